"""The local provider's state directory: functions, namespaces and secrets on disk.

Every file is replaced atomically (``pyfaas.system.atomic_files``), so a crash or a full disk leaves either
the old or the new content, never a torn file; temporary files of writes a crash interrupted are removed at
the next start. Any ``OSError`` becomes ``StateStoreError``. This module knows paths and bytes, not replicas.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

from pyfaas.core.errors import StateStoreError
from pyfaas.system.atomic_files import atomic_write, fsync_directory, remove_interrupted_writes

__all__ = ["StateStore"]


class StateStore:
    """Typed access to the state directory's files (see the package docstring for the layout)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.functions_dir = root / "functions"
        self.namespaces_dir = root / "namespaces"
        self.secrets_dir = root / "secrets"
        self.mounts_dir = root / "mounts"
        self.run_dir = root / "run"
        self.logs_dir = root / "logs"

    def ensure_layout(self) -> None:
        try:
            for directory in (self.functions_dir, self.namespaces_dir, self.logs_dir, self.run_dir):
                directory.mkdir(parents=True, exist_ok=True)
            for private in (self.secrets_dir, self.mounts_dir):
                private.mkdir(parents=True, exist_ok=True)
                private.chmod(0o700)
        except OSError as exc:
            raise StateStoreError(f"cannot create state directory {self.root}: {exc.strerror}") from exc
        remove_interrupted_writes(
            (self.functions_dir, self.namespaces_dir, self.secrets_dir, self.mounts_dir)
        )

    # json documents --------------------------------------------------------------------------------
    @staticmethod
    def _write_json(path: Path, document: dict[str, Any]) -> None:
        atomic_write(path, json.dumps(document, indent=1, sort_keys=True).encode())

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any]:
        try:
            value = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise StateStoreError(f"cannot read {path}: {exc}") from exc
        if not isinstance(value, dict):
            raise StateStoreError(f"cannot read {path}: not a JSON object")
        return value

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
            fsync_directory(path.parent)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StateStoreError(f"cannot remove {path}: {exc.strerror}") from exc

    # functions -------------------------------------------------------------------------------------
    def function_path(self, namespace: str, name: str) -> Path:
        return self.functions_dir / namespace / f"{name}.json"

    def save_function(self, namespace: str, name: str, record: dict[str, Any]) -> None:
        self._write_json(self.function_path(namespace, name), record)

    def delete_function(self, namespace: str, name: str) -> None:
        self._remove(self.function_path(namespace, name))

    def load_functions(self) -> list[dict[str, Any]]:
        return [self._read_json(path) for path in sorted(self.functions_dir.glob("*/*.json"))]

    # namespaces ------------------------------------------------------------------------------------
    def save_namespace(self, name: str, record: dict[str, Any]) -> None:
        self._write_json(self.namespaces_dir / f"{name}.json", record)

    def delete_namespace(self, name: str) -> None:
        self._remove(self.namespaces_dir / f"{name}.json")

    def load_namespaces(self) -> list[dict[str, Any]]:
        return [self._read_json(path) for path in sorted(self.namespaces_dir.glob("*.json"))]

    # secrets ---------------------------------------------------------------------------------------
    def secret_path(self, namespace: str, name: str) -> Path:
        return self.secrets_dir / namespace / name

    def write_secret(self, namespace: str, name: str, payload: bytes) -> None:
        directory = self.secrets_dir / namespace
        try:
            directory.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StateStoreError(f"cannot create {directory}: {exc.strerror}") from exc
        atomic_write(directory / name, payload, mode=0o600)

    def read_secret(self, namespace: str, name: str) -> bytes | None:
        try:
            return self.secret_path(namespace, name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateStoreError(f"cannot read secret {namespace}/{name}: {exc.strerror}") from exc

    def delete_secret(self, namespace: str, name: str) -> None:
        self._remove(self.secret_path(namespace, name))

    def secret_names(self, namespace: str) -> list[str]:
        directory = self.secrets_dir / namespace
        if not directory.is_dir():
            return []
        return sorted(p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))

    # per-function secret mounts ---------------------------------------------------------------------
    def mount_dir(self, namespace: str, function: str) -> Path:
        return self.mounts_dir / namespace / function

    def sync_mount(self, namespace: str, function: str, secrets: list[str]) -> Path:
        """Make the function's mount directory hold exactly ``secrets`` (copies, mode 0600)."""
        directory = self.mount_dir(namespace, function)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            wanted = set(secrets)
            for stale in directory.iterdir():
                if stale.name not in wanted:
                    stale.unlink()
        except OSError as exc:
            raise StateStoreError(f"cannot prepare secrets of {function}: {exc.strerror}") from exc
        for name in secrets:
            payload = self.read_secret(namespace, name)
            if payload is not None:
                atomic_write(directory / name, payload, mode=0o600)
            else:  # listed but deleted since: the function no longer sees it
                with contextlib.suppress(FileNotFoundError):
                    (directory / name).unlink()
        return directory

    def remove_mount(self, namespace: str, function: str) -> None:
        shutil.rmtree(self.mount_dir(namespace, function), ignore_errors=True)
