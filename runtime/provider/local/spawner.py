"""How a replica process comes to life: the ``Spawner`` seam and its plain-subprocess implementation.

A spawner starts ``python -m pyfaas.watchdog`` with a given environment, working directory and log file (the
replica's stdout and stderr are appended to it), in a session of its own so that its whole process group
(the watchdog and any function process it forks) can be signalled at once. The zygote implementation lives
in :mod:`pyfaas.provider.local.zygote_client`; both hand back a ``ReplicaProcess``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from pyfaas.core.errors import ProcessSpawnError
from pyfaas.system.processes import ProcessRecord, kill_tree

__all__ = ["FallbackSpawner", "ReplicaProcess", "Spawner", "SubprocessSpawner"]

log = logging.getLogger("pyfaas.provider.local")

WATCHDOG_MODULE = "pyfaas.watchdog"


class ReplicaProcess(Protocol):
    """A running replica: its PID (also its process group id) and its exit."""

    pid: int

    async def wait(self) -> int | None:
        """Exit code (negative: killed by that signal); None when it could not be observed."""
        ...

    def terminate(self) -> None:
        """Ask the watchdog to drain and exit (SIGTERM to the watchdog only, not its children)."""
        ...

    def kill(self) -> None:
        """SIGKILL the watchdog, its process group and everything it forked."""
        ...


class Spawner(Protocol):
    async def start(self) -> None: ...

    async def spawn(self, *, env: Mapping[str, str], cwd: Path, log_path: Path) -> ReplicaProcess: ...

    async def close(self) -> None: ...

    @property
    def process_record(self) -> ProcessRecord | None:
        """The spawner's own long-lived helper process, if any (recorded so a later run can stop it)."""
        ...

    @property
    def alive(self) -> bool:
        """Whether it can still spawn (False once a helper process it depends on has gone)."""
        ...


class _Subprocess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.pid = process.pid

    async def wait(self) -> int | None:
        return await self._process.wait()

    def terminate(self) -> None:
        if self._process.returncode is None:
            os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        kill_tree(self.pid)


class SubprocessSpawner:
    """One fresh interpreter per replica: simple and isolated, but pays the full import cost each time."""

    def __init__(self, python: str) -> None:
        self._python = python

    async def start(self) -> None:
        return None

    @property
    def process_record(self) -> ProcessRecord | None:
        return None

    @property
    def alive(self) -> bool:
        return True

    async def spawn(self, *, env: Mapping[str, str], cwd: Path, log_path: Path) -> ReplicaProcess:
        try:
            log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ProcessSpawnError(f"cannot open log file {log_path}: {exc.strerror}") from exc
        try:
            process = await asyncio.create_subprocess_exec(
                self._python,
                "-m",
                WATCHDOG_MODULE,
                env=dict(env),
                cwd=cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_fd,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProcessSpawnError(f"cannot start {self._python} -m {WATCHDOG_MODULE}: {exc}") from exc
        finally:
            os.close(log_fd)
        return _Subprocess(process)

    async def close(self) -> None:
        return None


class FallbackSpawner:
    """Prefer ``primary`` (the zygote); use ``fallback`` if it fails to start or dies later."""

    def __init__(self, primary: Spawner, fallback: Spawner) -> None:
        self._primary: Spawner | None = primary
        self._fallback = fallback

    @property
    def using_primary(self) -> bool:
        return self._primary is not None

    @property
    def alive(self) -> bool:
        return True

    @property
    def process_record(self) -> ProcessRecord | None:
        return self._primary.process_record if self._primary else None

    async def start(self) -> None:
        await self._fallback.start()
        if self._primary is None:
            return
        try:
            await self._primary.start()
        except ProcessSpawnError as exc:
            log.warning("zygote unavailable, replicas start as plain subprocesses: %s", exc)
            await self._drop_primary()

    async def spawn(self, *, env: Mapping[str, str], cwd: Path, log_path: Path) -> ReplicaProcess:
        if self._primary is not None:
            try:
                return await self._primary.spawn(env=env, cwd=cwd, log_path=log_path)
            except ProcessSpawnError as exc:
                if self._primary.alive:
                    raise  # it refused this one spawn (e.g. a missing directory): keep using it
                log.warning("the zygote is gone, falling back to plain subprocesses: %s", exc)
                await self._drop_primary()
        return await self._fallback.spawn(env=env, cwd=cwd, log_path=log_path)

    async def _drop_primary(self) -> None:
        primary, self._primary = self._primary, None
        if primary is not None:
            await primary.close()

    async def close(self) -> None:
        await self._drop_primary()
        await self._fallback.close()
