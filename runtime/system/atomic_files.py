"""Replace a file atomically: write a temporary file in the same directory, fsync it, rename it over the old
one, fsync the directory. A crash or a full disk leaves the old or the new content, never a torn file; the
temporary file a crash left (``.<name>.<pid>.tmp``) is removed by :func:`remove_interrupted_writes`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from pyfaas.core.errors import StateStoreError

__all__ = ["TMP_SUFFIX", "atomic_write", "fsync_directory", "remove_interrupted_writes"]

TMP_SUFFIX = ".tmp"


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically; raise ``StateStoreError`` if it cannot be written."""
    tmp = _temporary_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed or widened nothing we asked for
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StateStoreError(f"cannot write {path}: {exc.strerror or exc}") from exc


def remove_interrupted_writes(directories: Iterable[Path]) -> None:
    """Delete ``.<name>.<pid>.tmp`` files (searched recursively) whose writer is gone: a write cut short by a
    crash (SIGKILL, power loss) leaves its temporary file next to the intact old one; it holds data (a secret
    value, perhaps) that nothing will ever use."""
    for directory in directories:
        for tmp in directory.rglob(f".*{TMP_SUFFIX}"):
            pid = tmp.name[: -len(TMP_SUFFIX)].rpartition(".")[2]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    tmp.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
