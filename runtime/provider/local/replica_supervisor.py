"""Supervision of one function's replicas: start, readiness, crash restarts, scaling, rolling updates.

A ``FunctionSupervisor`` owns the replica processes of one function and converges them on the desired count
for the current spec *generation*. It publishes a ready set: the ready replicas of the *serving* generation.
A rolling update bumps the generation; new replicas start next to the old ones, and only when as many of
them are ready as desired does the serving generation switch (listeners are told), after which the old
replicas drain. Scaling down and draining always remove a replica from the ready set, and notify, *before*
SIGTERM reaches it. An unexpected exit is restarted after an exponential backoff and counted; for a replica of
the current spec it also becomes the function's ``failure`` (with the last lines of the replica's output),
which listeners are told about and which lasts until a replica of the current spec is ready again (or the
spec changes, or the function is woken from zero).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyfaas.core.errors import ProcessSpawnError
from pyfaas.core.models import FunctionDeployment, ReplicaFailure
from pyfaas.core.replica_key import REPLICA_KEY_ENV, new_replica_key
from pyfaas.core.timeouts import watchdog_env
from pyfaas.provider.base import Replica
from pyfaas.provider.local.config import LocalProviderConfig
from pyfaas.provider.local.logs import LogCollector, last_lines
from pyfaas.provider.local.readiness import NotReady, wait_ready
from pyfaas.provider.local.spawner import ReplicaProcess, Spawner
from pyfaas.system.processes import ProcessRecord, group_alive, kill_by_environment, kill_group

__all__ = ["ExitRecord", "FunctionSupervisor", "ReplicaInfo", "ReplicaState", "SupervisorStatus"]

log = logging.getLogger("pyfaas.provider.local")

PID_SUFFIX = ".pid"
FAILURE_LINES = 12
"""Lines of a failed replica's output kept as the function's failure message (a traceback's tail)."""


class ReplicaState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    EXITED = "exited"


@dataclass(frozen=True, slots=True)
class ExitRecord:
    """An unexpected end of a replica, as shown in status."""

    replica: str
    code: int | None
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReplicaInfo:
    id: str
    pid: int | None
    url: str | None
    state: ReplicaState
    generation: int
    started_at: float


@dataclass(frozen=True, slots=True)
class SupervisorStatus:
    """Provider-side status of a function beyond FunctionStatus: restarts, last exit, replica processes."""

    desired: int
    available: int
    generation: int
    serving_generation: int
    restarts: int
    last_exit: ExitRecord | None
    replicas: list[ReplicaInfo]


@dataclass(slots=True)
class _Handle:
    id: str
    generation: int
    spec: FunctionDeployment
    state: ReplicaState = ReplicaState.STARTING
    process: ReplicaProcess | None = None
    replica: Replica | None = None
    started_at: float = field(default_factory=time.time)
    ready_at: float | None = None
    task: asyncio.Task[None] | None = None
    key: str = field(default_factory=new_replica_key)
    """Only the gateway, which sends it, reaches this replica (``pyfaas.core.replica_key``)."""


@dataclass(frozen=True, slots=True)
class SupervisorContext:
    """What every supervisor shares: settings, the spawner, the log collector and replica environments."""

    config: LocalProviderConfig
    spawner: Spawner
    collector: LogCollector
    run_dir: Path
    mount_dir: Callable[[str, str], Path]
    on_ready_change: Callable[[str, str, list[Replica]], None]


class FunctionSupervisor:
    def __init__(
        self, *, context: SupervisorContext, spec: FunctionDeployment, namespace: str, desired: int
    ) -> None:
        self._ctx = context
        self.name = spec.service
        self.namespace = namespace
        self.spec = spec
        self.desired = desired
        self.generation = 1
        self.serving_generation = 1
        self.restarts = 0
        self.last_exit: ExitRecord | None = None
        self.failure: ReplicaFailure | None = None
        """Why replicas of the current spec do not stay ready; None once one is ready."""
        self._crash_streak = 0
        self._next_start_at = 0.0
        self._handles: dict[str, _Handle] = {}
        self._published: list[Replica] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._retired = False
        self._loop_task: asyncio.Task[None] | None = None
        self.run_dir = context.run_dir / namespace / self.name

    # lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._loop_task = asyncio.create_task(self._loop(), name=f"supervise {self.name}.{self.namespace}")
        self._wake.set()

    async def stop(self) -> None:
        """Drain every replica and wait until all have exited (killing those past the drain timeout)."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for handle in list(self._handles.values()):
            self._drain(handle)
        tasks = [h.task for h in self._handles.values() if h.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # desired state ---------------------------------------------------------------------------------
    def scale(self, replicas: int) -> None:
        if self.desired == 0:
            self.failure = None  # woken from zero: a fresh attempt, not the crash before the sleep
        self.desired = replicas
        self._wake.set()

    def update(self, spec: FunctionDeployment) -> None:
        """Roll out a new spec: new replicas first, switch when ready, then drain the old ones."""
        self.spec = spec
        self.generation += 1
        self.failure = None
        self._crash_streak = 0
        self._next_start_at = 0.0
        self._wake.set()

    @property
    def ready(self) -> list[Replica]:
        return list(self._published)

    @property
    def updated(self) -> int:
        """Ready replicas of the current spec (fewer than ``ready`` while a rolling update is under way)."""
        return sum(
            1
            for h in self._handles.values()
            if h.state is ReplicaState.READY and h.generation == self.generation
        )

    def status(self) -> SupervisorStatus:
        return SupervisorStatus(
            desired=self.desired,
            available=len(self._published),
            generation=self.generation,
            serving_generation=self.serving_generation,
            restarts=self.restarts,
            last_exit=self.last_exit,
            replicas=[
                ReplicaInfo(
                    id=h.id,
                    pid=h.process.pid if h.process else None,
                    url=h.replica.url if h.replica else None,
                    state=h.state,
                    generation=h.generation,
                    started_at=h.started_at,
                )
                for h in self._handles.values()
            ],
        )

    # reconciliation --------------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            timeout = None
            if self._next_start_at:
                timeout = max(self._next_start_at - time.monotonic(), 0.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()
            self._reconcile()

    def _reconcile(self) -> None:
        if self._stopping:
            return
        live = [
            h
            for h in self._handles.values()
            if h.generation == self.generation and h.state in (ReplicaState.STARTING, ReplicaState.READY)
        ]
        missing = self.desired - len(live)
        if missing > 0:
            if time.monotonic() >= self._next_start_at:
                self._next_start_at = 0.0
                for _ in range(missing):
                    self._start_replica()
        elif missing < 0:
            # Prefer dropping replicas that serve nobody yet, then the newest ready ones.
            order = sorted(live, key=lambda h: (h.state is ReplicaState.READY, -h.started_at))
            for handle in order[:-missing]:
                self._drain(handle)
        if self.serving_generation != self.generation:
            fresh_ready = sum(
                1 for h in live if h.state is ReplicaState.READY and h.generation == self.generation
            )
            if fresh_ready >= self.desired:
                self.serving_generation = self.generation
        self._publish()
        for handle in list(self._handles.values()):
            old = handle.generation not in (self.generation, self.serving_generation)
            superseded = handle.generation != self.generation and self.serving_generation == self.generation
            if (old or superseded) and handle.state in (ReplicaState.STARTING, ReplicaState.READY):
                self._drain(handle)

    def _publish(self) -> None:
        if self._retired:  # deleted: the empty set stays published while the replicas drain
            return
        ready = [
            h.replica
            for h in self._handles.values()
            if h.state is ReplicaState.READY and h.generation == self.serving_generation and h.replica
        ]
        if [r.id for r in ready] != [r.id for r in self._published]:
            self._published = ready
            self._ctx.on_ready_change(self.name, self.namespace, list(ready))

    def retire(self) -> None:
        """The function is being deleted: empty the ready set now, before anything is signalled."""
        self._stopping = True
        self._retired = True
        self._published = []
        self._ctx.on_ready_change(self.name, self.namespace, [])

    # one replica -----------------------------------------------------------------------------------
    def _start_replica(self) -> None:
        replica_id = f"{self.name}-{uuid.uuid4().hex[:10]}"
        handle = _Handle(id=replica_id, generation=self.generation, spec=self.spec)
        self._handles[replica_id] = handle
        handle.task = asyncio.create_task(self._run(handle), name=f"replica {replica_id}")

    def _environment(self, handle: _Handle) -> dict[str, str]:
        config = self._ctx.config
        spec = handle.spec
        env = dict(config.inherited_env)
        env.update(config.replica_env_defaults)
        if config.max_body_bytes is not None:
            env["max_body_bytes"] = str(config.max_body_bytes)
        env.update(spec.envVars or {})
        env.update(watchdog_env(spec.annotations, spec.envVars))  # from com.openfaas.timeout; envVars win
        if spec.envProcess:
            env["fprocess"] = spec.envProcess
        env.update(
            {
                # Loopback only: the gateway is the way in (auth, metrics); a function is not a network
                # service of its own (the watchdog's default, 0.0.0.0, suits a pod, not a shared host).
                "bind_address": "127.0.0.1",
                "port": "0",
                "port_file": str(self.run_dir / f"{handle.id}.port"),
                "lock_path": str(self.run_dir / f"{handle.id}.lock"),
                "metrics_port": "0",
                "secret_mount_path": str(self._ctx.mount_dir(self.namespace, self.name)),
                "HOSTNAME": handle.id,
                "OPENFAAS_NAME": self.name,
                "OPENFAAS_NAMESPACE": self.namespace,
                REPLICA_KEY_ENV: handle.key,
            }
        )
        return env

    async def _run(self, handle: _Handle) -> None:
        log_path = self.run_dir / f"{handle.id}.log"
        pid_path = self.run_dir / f"{handle.id}{PID_SUFFIX}"
        begun = time.monotonic()
        try:
            handle.process = await self._ctx.spawner.spawn(
                env=self._environment(handle), cwd=self.run_dir, log_path=log_path
            )
        except ProcessSpawnError as exc:
            self._end(handle, expected=False, code=None, reason=f"spawn failed: {exc}", output="")
            return
        process = handle.process
        spawned = time.monotonic()
        self._record_pid(pid_path, process.pid)
        self._ctx.collector.watch(namespace=self.namespace, name=self.name, instance=handle.id, path=log_path)
        if handle.state is ReplicaState.DRAINING:  # scaled away while it was being spawned
            self._signal_drain(handle)
        exited: asyncio.Future[int | None] = asyncio.ensure_future(process.wait())
        reason = ""
        try:
            if handle.state is ReplicaState.STARTING:
                try:
                    port = await self._until_ready_or_drained(handle, exited)
                except NotReady as exc:
                    reason = str(exc)
                    process.kill()
                else:
                    if port is not None and handle.state is ReplicaState.STARTING:
                        handle.state = ReplicaState.READY
                        handle.ready_at = time.monotonic()
                        handle.replica = Replica(
                            id=handle.id,
                            url=f"http://127.0.0.1:{port}",
                            started_at=handle.started_at,
                            key=handle.key,
                        )
                        if handle.generation == self.generation:
                            self.failure = None
                        self._reconcile()  # publish at once: a caller may be waiting on a cold start
                        log.info(
                            "replica %s of %s.%s ready in %.0f ms (spawned in %.0f ms)",
                            handle.id,
                            self.name,
                            self.namespace,
                            (handle.ready_at - begun) * 1000,
                            (spawned - begun) * 1000,
                        )
            code = await exited
        except asyncio.CancelledError:
            process.kill()
            raise
        # The watchdog is gone; whatever it forked and left behind goes with it.
        if group_alive(process.pid):
            kill_group(process.pid, signal.SIGKILL)
        await asyncio.to_thread(kill_by_environment, f"port_file={self.run_dir / handle.id}.port")
        expected = handle.state is ReplicaState.DRAINING
        # Its last words (a traceback) before the collector takes the raw file away.
        output = "" if expected else last_lines(log_path, FAILURE_LINES)
        self._ctx.collector.release(log_path)
        for leftover in (pid_path, self.run_dir / f"{handle.id}.port", self.run_dir / f"{handle.id}.lock"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        self._end(
            handle, expected=expected, code=code, reason=reason or f"exited with code {code}", output=output
        )

    def _end(self, handle: _Handle, *, expected: bool, code: int | None, reason: str, output: str) -> None:
        handle.state = ReplicaState.EXITED
        failed = False
        if expected:
            log.info("replica %s of %s.%s stopped (code %s)", handle.id, self.name, self.namespace, code)
        else:
            failed = self._crashed(handle, code=code, reason=reason, output=output)
        self._handles.pop(handle.id, None)
        self._publish()
        if failed:  # the ready set may be unchanged: tell waiting callers anyway, they read the failure
            self._ctx.on_ready_change(self.name, self.namespace, list(self._published))
        self._wake.set()

    async def _until_ready_or_drained(
        self, handle: _Handle, exited: asyncio.Future[int | None]
    ) -> int | None:
        waiter = asyncio.ensure_future(
            wait_ready(
                port_file=self.run_dir / f"{handle.id}.port",
                lock_file=None if _suppresses_lock(handle.spec) else self.run_dir / f"{handle.id}.lock",
                exited=exited,
                within=self._ctx.config.ready_timeout,
            )
        )
        while not waiter.done():
            await asyncio.wait({waiter}, timeout=0.05)
            if handle.state is ReplicaState.DRAINING:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError, NotReady):
                    await waiter
                return None
        return waiter.result()

    def _drain(self, handle: _Handle) -> None:
        if handle.state in (ReplicaState.DRAINING, ReplicaState.EXITED):
            return
        was_ready = handle.state is ReplicaState.READY
        handle.state = ReplicaState.DRAINING
        if was_ready:
            self._publish()  # out of the ready set, and listeners told, before the signal
        if handle.process is not None:
            self._signal_drain(handle)
        # else: still being spawned; _run signals it as soon as the process exists

    def _signal_drain(self, handle: _Handle) -> None:
        assert handle.process is not None
        handle.process.terminate()
        asyncio.get_running_loop().call_later(self._ctx.config.drain_timeout, self._kill_if_running, handle)

    def _kill_if_running(self, handle: _Handle) -> None:
        if handle.state is not ReplicaState.EXITED and handle.process is not None:
            log.warning(
                "replica %s did not drain within %ss; killing it", handle.id, self._ctx.config.drain_timeout
            )
            handle.process.kill()

    def _crashed(self, handle: _Handle, *, code: int | None, reason: str, output: str) -> bool:
        """Count an unexpected end and schedule the restart; True when it became the function's failure."""
        if self._stopping:
            return False
        now = time.monotonic()
        if handle.ready_at is not None and now - handle.ready_at >= self._ctx.config.backoff_reset_after:
            self._crash_streak = 0
        self._crash_streak += 1
        delay = min(
            self._ctx.config.restart_backoff * 2 ** (self._crash_streak - 1),
            self._ctx.config.restart_backoff_max,
        )
        self.restarts += 1
        self.last_exit = ExitRecord(replica=handle.id, code=code, reason=reason, at=datetime.now(UTC))
        current = handle.generation == self.generation
        if current:
            self._next_start_at = now + delay
            self.failure = ReplicaFailure(
                reason=reason,
                message=output,
                beforeReady=handle.ready_at is None,
                restarts=self.restarts,
                at=self.last_exit.at,
            )
        log.warning(
            "replica %s of %s.%s ended unexpectedly (%s); restarting in %.2fs (restart #%d)",
            handle.id,
            self.name,
            self.namespace,
            reason,
            delay,
            self.restarts,
        )
        self._wake.set()
        return current

    @staticmethod
    def _record_pid(path: Path, pid: int) -> None:
        record = ProcessRecord.of(pid)
        if record is None:
            return
        # Not fsynced: it is only a hint for cleaning up after a crash of the provider itself.
        with contextlib.suppress(OSError):
            path.write_text(f"{record.pid} {record.start_time}\n")


def _suppresses_lock(spec: FunctionDeployment) -> bool:
    return (spec.envVars or {}).get("suppress_lock", "").strip().lower() in ("true", "1")


def read_pid_record(path: Path) -> ProcessRecord | None:
    try:
        pid, start = path.read_text().split()
        return ProcessRecord(int(pid), int(start))
    except (OSError, ValueError):
        return None
