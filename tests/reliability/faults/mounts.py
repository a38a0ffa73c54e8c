"""Small filesystems for disk-fault tests: a size-limited tmpfs and read-only bind mounts (root only).

Each helper skips the calling test, with the reason, when the kernel or the container refuses the mount.
Root ignores permission bits, so a read-only directory has to be a read-only mount, not a ``chmod``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["fill", "read_only_bind", "tmpfs"]


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=10, check=False)
    if result.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} is not permitted here: {result.stderr.strip()}")


def _umount(path: Path) -> None:
    result = subprocess.run(["umount", str(path)], capture_output=True, timeout=10, check=False)
    if result.returncode != 0:  # still busy (a process we are about to kill): detach it lazily
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10, check=False)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. ``8m``) mounted on ``path`` for the duration."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def read_only_bind(path: Path) -> Iterator[Path]:
    """``path`` itself, made read-only for the duration by a read-only bind mount over it."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    _mount("--bind", str(path), str(path))
    result = subprocess.run(
        ["mount", "-o", "remount,bind,ro", str(path)], capture_output=True, text=True, timeout=10, check=False
    )
    if result.returncode != 0:
        _umount(path)
        pytest.skip(f"remounting {path} read-only is not permitted here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        _umount(path)


def fill(directory: Path) -> Path:
    """Write a file in ``directory`` until the filesystem is full (ENOSPC); returns the file."""
    filler = directory / "filler"
    chunk = b"\0" * (64 * 1024)
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    # The last partial pages: fill them with small writes so that no 1-byte file fits.
    with filler.open("ab", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 512)
    return filler
