"""Health as OpenFaaS watchdogs define it: accepting connections and the lock file present."""

from __future__ import annotations

import contextlib
import os

__all__ = ["Health", "lock_present"]


def lock_present(path: str) -> bool:
    """What ``--run-healthcheck`` and exec probes check."""
    return os.path.exists(path)


class Health:
    """Tracks readiness; writes the lock file when healthy and removes it on shutdown."""

    def __init__(self, lock_file: str, *, suppress_lock: bool) -> None:
        self.lock_file = lock_file
        self.suppress_lock = suppress_lock
        self._healthy = False

    def mark_healthy(self) -> None:
        if not self.suppress_lock:
            directory = os.path.dirname(self.lock_file)
            if directory:
                os.makedirs(directory, exist_ok=True)
            fd = os.open(self.lock_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o660)
            os.close(fd)
        self._healthy = True

    def mark_unhealthy(self) -> None:
        self._healthy = False
        if not self.suppress_lock:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lock_file)

    @property
    def healthy(self) -> bool:
        if not self._healthy:
            return False
        return self.suppress_lock or lock_present(self.lock_file)
