"""Supervision of the platform's child processes: start, wait until ready, restart with backoff, stop.

Each child runs in a session (and so a process group) of its own: a Ctrl-C on the terminal reaches only
``pyfaas up``, which then stops the children in order. Stopping a child is SIGTERM (and SIGCONT, in case it
was stopped) to its group, then, after the service's grace period, SIGKILL to the group and to every
descendant (function replicas run in sessions of their own below the gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pyfaas.cli.local.services import ServiceSpec
from pyfaas.system.processes import ProcessRecord, kill_group, kill_tree

__all__ = ["Backoff", "ServiceFailed", "ServiceUnavailable", "Supervisor"]


class ServiceFailed(Exception):
    """A service did not become ready (it exited, or did not answer in time)."""


class ServiceUnavailable(Exception):
    """A service exited with one of its ``unavailable_codes``: it cannot run on this machine."""


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``first`` seconds, doubling up to ``ceiling``; the crash count resets once a child
    has run ``reset_after`` seconds."""

    first: float = 0.5
    ceiling: float = 10.0
    reset_after: float = 30.0

    def delay(self, crashes: int) -> float:
        return float(min(self.ceiling, self.first * 2 ** max(0, crashes - 1)))


@dataclass
class _Child:
    spec: ServiceSpec
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    record: ProcessRecord | None = None
    started_at: float = 0.0
    starts: int = 0
    crashes: int = 0
    watcher: asyncio.Task[None] | None = None
    restarts: list[float] = field(default_factory=list)


def _rotate(path: Path, limit: int = 10 << 20) -> None:
    """Keep one older log (``.1``) once a log passes ``limit`` bytes, checked at each (re)start."""
    with contextlib.suppress(OSError):
        if path.stat().st_size > limit:
            path.replace(path.with_name(path.name + ".1"))


def _tail(path: Path, limit: int = 600) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line for line in text[-limit:].splitlines()[-6:] if line.strip())


class Supervisor:
    """Runs :class:`ServiceSpec` children; ``on_change`` gets every child's record after each (re)start."""

    def __init__(
        self,
        logs_dir: Path,
        *,
        cwd: Path,
        on_change: Callable[[dict[str, ProcessRecord]], None],
        notify: Callable[[str], None],
        backoff: Backoff = Backoff(),
        ready_timeout: float = 60.0,
    ) -> None:
        self.logs_dir = logs_dir
        self.cwd = cwd
        self.on_change = on_change
        self.notify = notify
        self.backoff = backoff
        self.ready_timeout = ready_timeout
        self._children: dict[str, _Child] = {}
        self._stopping = False

    # queries ---------------------------------------------------------------------------------------
    def records(self) -> dict[str, ProcessRecord]:
        return {name: child.record for name, child in self._children.items() if child.record is not None}

    def restarts(self, name: str) -> int:
        child = self._children.get(name)
        return len(child.restarts) if child else 0

    # start -----------------------------------------------------------------------------------------
    async def start(self, spec: ServiceSpec) -> None:
        """Start ``spec`` and wait until it is ready; it is then watched and restarted when it crashes.

        Raises :class:`ServiceUnavailable` or :class:`ServiceFailed` (the child is stopped first).
        """
        child = _Child(spec, self.logs_dir / f"{spec.name}.log")
        self._children[spec.name] = child
        try:
            await self._spawn_ready(child)
        except BaseException:
            await self._terminate(child)
            del self._children[spec.name]
            raise
        child.watcher = asyncio.create_task(self._watch(child), name=f"watch-{spec.name}")

    async def _spawn_ready(self, child: _Child) -> None:
        spec = child.spec
        child.starts += 1
        _rotate(child.log_path)
        with child.log_path.open("ab") as log:
            log.write(f"--- pyfaas up: start #{child.starts} of {spec.name}\n".encode())
            log.flush()
            child.process = await asyncio.create_subprocess_exec(
                *spec.argv,
                env=dict(spec.env),
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        child.record = ProcessRecord.of(child.process.pid)
        child.started_at = time.monotonic()
        self.on_change(self.records())
        await self._wait_ready(child)

    async def _wait_ready(self, child: _Child) -> None:
        spec, process = child.spec, child.process
        assert process is not None
        deadline = time.monotonic() + self.ready_timeout
        pending = list(spec.ready_urls)
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            while pending:
                if process.returncode is not None:
                    if process.returncode in spec.unavailable_codes:
                        raise ServiceUnavailable(_tail(child.log_path))
                    raise ServiceFailed(
                        f"{spec.name} exited with code {process.returncode}: {_tail(child.log_path)}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(pending[0])).status_code == 200:
                        pending.pop(0)
                        continue
                if time.monotonic() > deadline:
                    raise ServiceFailed(
                        f"{spec.name} did not answer {pending[0]} within {self.ready_timeout:.0f}s: "
                        f"{_tail(child.log_path)}"
                    )
                await asyncio.sleep(0.05)

    # watch and restart -----------------------------------------------------------------------------
    async def _watch(self, child: _Child) -> None:
        while not self._stopping:
            process = child.process
            assert process is not None
            code = await process.wait()
            if self._stopping:
                return
            if time.monotonic() - child.started_at >= self.backoff.reset_after:
                child.crashes = 0
            child.crashes += 1
            delay = self.backoff.delay(child.crashes)
            self.notify(f"{child.spec.title} exited with code {code}; restarting in {delay:.1f}s")
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self._spawn_ready(child)
            except ServiceUnavailable:
                self.notify(f"{child.spec.title} cannot run here any more; not restarting it")
                return
            except ServiceFailed as exc:
                self.notify(f"restart failed: {exc}")
                await self._terminate(child)
                continue
            child.restarts.append(time.time())
            self.notify(f"{child.spec.title} restarted (pid {child.process.pid if child.process else '?'})")

    # stop ------------------------------------------------------------------------------------------
    async def stop(self, names: list[str]) -> None:
        """Stop the named children concurrently (SIGTERM, then SIGKILL after their grace period)."""
        self._stopping = True
        children = [self._children[name] for name in names if name in self._children]
        for child in children:
            if child.watcher is not None:
                child.watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await child.watcher
        await asyncio.gather(*(self._terminate(child) for child in children))

    async def _terminate(self, child: _Child) -> None:
        process = child.process
        if process is None or process.returncode is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGCONT):
            kill_group(process.pid, sig)
        try:
            await asyncio.wait_for(process.wait(), child.spec.stop_grace)
        except TimeoutError:
            self.notify(f"{child.spec.title} did not stop within {child.spec.stop_grace:.0f}s: killed")
            # Its whole tree goes, function replicas in sessions of their own included.
            await asyncio.to_thread(kill_tree, process.pid)
            await process.wait()
