"""faas-cli's credentials file: ``config.yml`` with an ``auths`` list of ``{gateway, auth, token}``.

Location as faas-cli: ``$OPENFAAS_CONFIG`` when set, else ``.openfaas`` in the working directory when
``CI=true`` (or ``1``), else ``~/.openfaas``. ``token`` is base64 of ``user:password`` for ``auth: basic``.
The directory is created 0700 (0744 in CI, as faas-cli) and the file written 0600, atomically.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pyfaas.cli.errors import CliError

__all__ = ["BasicCredentials", "CredentialStore", "config_dir"]

CONFIG_FILE = "config.yml"


def config_dir(*, override: str, ci: bool, home: Path, cwd: Path) -> Path:
    if override:
        path = Path(override).expanduser()
        return path if path.is_absolute() else cwd / path
    if ci:
        return cwd / ".openfaas"
    return home / ".openfaas"


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    username: str
    password: str

    def token(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    @classmethod
    def from_token(cls, token: str) -> BasicCredentials:
        try:
            decoded = base64.b64decode(token, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise ValueError("token is not base64 of user:password") from exc
        username, colon, password = decoded.partition(":")
        if not colon:
            raise ValueError("token is not base64 of user:password")
        return cls(username, password)


class CredentialStore:
    def __init__(self, directory: Path, *, ci: bool = False) -> None:
        self.directory = directory
        self.path = directory / CONFIG_FILE
        self._ci = ci

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {"auths": []}
        except OSError as exc:
            raise CliError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise CliError(
                f"{self.path} is not valid YAML", hint="fix or delete it, then pyfaas login again"
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("auths") or [], list):
            raise CliError(
                f"{self.path}: expected an 'auths' list", hint="fix or delete it, then pyfaas login"
            )
        data["auths"] = [entry for entry in data.get("auths") or [] if isinstance(entry, dict)]
        return data

    def _save(self, data: dict[str, Any]) -> None:
        try:
            self.directory.mkdir(mode=0o744 if self._ci else 0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".config-", suffix=".yml")
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w") as handle:
                    yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=False, indent=2)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise CliError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def lookup(self, gateway: str) -> BasicCredentials | None:
        for entry in self._load()["auths"]:
            if (
                entry.get("gateway") == gateway
                and entry.get("auth", "basic") == "basic"
                and entry.get("token")
            ):
                try:
                    return BasicCredentials.from_token(str(entry["token"]))
                except ValueError as exc:
                    raise CliError(
                        f"{self.path}: the token for {gateway} is invalid ({exc})",
                        hint=f"pyfaas login -g {gateway}",
                    ) from exc
        return None

    def save(self, gateway: str, credentials: BasicCredentials) -> None:
        data = self._load()
        entry = {"gateway": gateway, "auth": "basic", "token": credentials.token()}
        auths: list[dict[str, Any]] = data["auths"]
        for index, existing in enumerate(auths):
            if existing.get("gateway") == gateway:
                auths[index] = entry
                break
        else:
            auths.append(entry)
        self._save(data)

    def remove(self, gateway: str) -> bool:
        """Forget ``gateway``'s credentials; False when there were none."""
        data = self._load()
        kept = [entry for entry in data["auths"] if entry.get("gateway") != gateway]
        if len(kept) == len(data["auths"]):
            return False
        data["auths"] = kept
        self._save(data)
        return True
