"""``LocalProvider``: the Provider protocol on one machine, functions as supervised watchdog processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyfaas.core.errors import (
    Conflict,
    FunctionExists,
    FunctionNotFound,
    FunctionUnavailable,
    NamespaceNotFound,
    ProviderError,
    SecretExists,
    SecretNotFound,
    StateStoreError,
    ValidationFailed,
)
from pyfaas.core.labels import scaling_policy
from pyfaas.core.models import (
    FunctionDeployment,
    FunctionNamespace,
    FunctionStatus,
    LogMessage,
    ProviderInfo,
    Secret,
    VersionInfo,
)
from pyfaas.core.names import validate_function_name, validate_namespace, validate_secret_name
from pyfaas.core.version import __version__
from pyfaas.provider.base import LogRequest, Replica, ReplicaListener
from pyfaas.provider.listeners import ReplicaListeners
from pyfaas.provider.local import sandbox
from pyfaas.provider.local.config import LocalProviderConfig
from pyfaas.provider.local.logs import LogCollector
from pyfaas.provider.local.replica_supervisor import (
    PID_SUFFIX,
    FunctionSupervisor,
    SupervisorContext,
    SupervisorStatus,
    read_pid_record,
)
from pyfaas.provider.local.spawner import FallbackSpawner, Spawner, SubprocessSpawner
from pyfaas.provider.local.store import StateStore
from pyfaas.provider.local.zygote_client import ZygoteSpawner
from pyfaas.system.processes import ProcessRecord, kill_by_environment, terminate_stale

__all__ = ["LocalProvider"]


def _check_handler_folder(handler: str) -> None:
    """A python-mode function's ``envVars.handler``: the message says which condition it fails."""
    path = Path(handler)
    if not handler:
        problem = "python mode needs envVars.handler: the absolute path of a folder with handler.py"
    elif not path.is_absolute():
        problem = f"handler {handler!r} must be an absolute path"
    elif not path.exists():
        problem = f"handler folder {handler} does not exist"
    elif not path.is_dir():
        problem = f"handler {handler} is not a folder"
    elif not (path / "handler.py").is_file():
        problem = f"handler folder {handler} has no handler.py"
    else:
        return
    raise ValidationFailed(problem, field="envVars.handler")


log = logging.getLogger("pyfaas.provider.local")

PROVIDER_NAME = "pyfaas-local"
ORCHESTRATION = "process"
_NO_FPROCESS_MODES = frozenset({"python", "static"})
STATE_MARKER = "PYFAAS_STATE_DIR"
"""Set in the zygote's environment (and so in the initial environment of every replica it forks)."""


@dataclass(slots=True)
class _Function:
    spec: FunctionDeployment
    namespace: str
    desired: int
    created_at: datetime
    supervisor: FunctionSupervisor

    def record(self) -> dict[str, Any]:
        return _record(self.spec, self.namespace, self.desired, self.created_at)


def _record(spec: FunctionDeployment, namespace: str, desired: int, created_at: datetime) -> dict[str, Any]:
    """What the state directory keeps of a function: its spec, desired replicas and creation time."""
    return {
        "spec": spec.wire(),
        "namespace": namespace,
        "replicas": desired,
        "createdAt": created_at.isoformat(),
    }


def _version() -> VersionInfo:
    return VersionInfo(sha="", release=__version__)


class LocalProvider:
    """Functions run as ``pyfaas-watchdog`` processes on 127.0.0.1, state kept under ``config.state_dir``."""

    def __init__(self, config: LocalProviderConfig) -> None:
        self.config = config
        self.default_namespace = config.default_namespace
        # Absolute: replicas run in their own working directory and get paths below this one.
        self._store = StateStore(config.state_dir.absolute())
        self._collector = LogCollector(
            self._store.logs_dir, cap_bytes=config.log_ring_bytes, poll_interval=config.log_poll_interval
        )
        self._spawner: Spawner | None = None
        self._functions: dict[tuple[str, str], _Function] = {}
        self._namespaces: dict[str, FunctionNamespace] = {}
        self._listeners = ReplicaListeners()
        self._retiring: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._started = False
        self._closed = False

    # lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._started:
            return
        validate_namespace(self.default_namespace, "default_namespace")
        self._store.ensure_layout()
        await asyncio.to_thread(self._stop_previous_run)
        self._spawner = self._make_spawner()
        await self._spawner.start()
        if (record := self._spawner.process_record) is not None:
            self._write_zygote_record(record)
        for document in self._store.load_namespaces():
            namespace = FunctionNamespace.model_validate(document)
            self._namespaces[namespace.name] = namespace
        self._collector.start()
        for document in self._store.load_functions():
            self._restore(document)
        self._started = True
        log.info(
            "local provider started: %d function(s), replicas via %s", len(self._functions), self.spawner_kind
        )

    def _make_spawner(self) -> Spawner:
        if self.config.sandbox:
            found = sandbox.probe(self.config.bwrap)
            if found.available:
                return sandbox.SandboxSpawner(
                    python=self.config.python_executable,
                    bwrap=self.config.bwrap,
                    zygote_env={**self.config.inherited_env, STATE_MARKER: str(self._store.root)},
                    hidden=[self._store.root, *self.config.sandbox_hidden],
                )
            log.warning("functions are NOT isolated from each other (no sandbox): %s", found.reason)
        subprocess = SubprocessSpawner(self.config.python_executable)
        if not self.config.use_zygote:
            return subprocess
        zygote = ZygoteSpawner(
            python=self.config.python_executable,
            socket_path=self._store.run_dir / "zygote.sock",
            log_path=self._store.run_dir / "zygote.log",
            # Replicas replace their environment after the fork; the zygote itself needs only the basics,
            # plus a marker that ties it (and what it forks) to this state directory.
            env={**self.config.inherited_env, STATE_MARKER: str(self._store.root)},
        )
        return FallbackSpawner(zygote, subprocess)

    @property
    def spawner_kind(self) -> str:
        """``sandbox`` (forked from a zygote in each function's sandbox), ``zygote`` (forked from the shared
        warm zygote) or ``subprocess``."""
        spawner = self._spawner
        if isinstance(spawner, sandbox.SandboxSpawner):
            return "sandbox"
        if isinstance(spawner, FallbackSpawner) and spawner.using_primary:
            return "zygote"
        return "subprocess"

    def _write_zygote_record(self, record: ProcessRecord) -> None:
        with contextlib.suppress(OSError):
            (self._store.run_dir / f"zygote{PID_SUFFIX}").write_text(f"{record.pid} {record.start_time}\n")

    def _stop_previous_run(self) -> None:
        """Kill processes an earlier provider run left behind, keep their output, clear the run directory."""
        run_dir = self._store.run_dir
        stale = [r for p in run_dir.rglob(f"*{PID_SUFFIX}") if (r := read_pid_record(p)) is not None]
        killed = terminate_stale(stale)
        # Requests a replica forked into sessions of their own carry its environment: find them by it.
        killed += len(kill_by_environment(f"port_file={run_dir}/", prefix=True))
        # An earlier zygote and anything it forked carry its marker (a PID record may not have been written).
        killed += len(kill_by_environment(f"{STATE_MARKER}={self._store.root}"))
        if killed:
            log.warning("stopped %d process(es) left by an earlier run", killed)
        for raw in run_dir.glob("*/*/*.log"):
            namespace, name = raw.parent.parent.name, raw.parent.name
            self._collector.ingest_leftover(namespace=namespace, name=name, instance=raw.stem, path=raw)
        for leftover in run_dir.rglob("*"):
            if leftover.is_file() or leftover.is_socket():
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def _restore(self, document: dict[str, Any]) -> None:
        try:
            spec = FunctionDeployment.model_validate(document["spec"])
            namespace = str(document["namespace"])
            desired = int(document["replicas"])
            created_at = datetime.fromisoformat(document["createdAt"])
        except (KeyError, ValueError, TypeError) as exc:
            log.error("skipping an unreadable function record: %s", exc)
            return
        self._add_function(spec, namespace, desired, created_at)

    def _add_function(
        self, spec: FunctionDeployment, namespace: str, desired: int, created_at: datetime
    ) -> _Function:
        supervisor = FunctionSupervisor(
            context=self._context(), spec=spec, namespace=namespace, desired=desired
        )
        function = _Function(spec, namespace, desired, created_at, supervisor)
        self._functions[(namespace, spec.service)] = function
        supervisor.start()
        return function

    def _context(self) -> SupervisorContext:
        assert self._spawner is not None
        return SupervisorContext(
            config=self.config,
            spawner=self._spawner,
            collector=self._collector,
            run_dir=self._store.run_dir,
            mount_dir=self._store.mount_dir,
            on_ready_change=self._listeners.notify,
        )

    async def close(self) -> None:
        """Drain and stop every replica, then the zygote; nothing is left running."""
        if self._closed:
            return
        self._closed = True
        functions = list(self._functions.values())
        await asyncio.gather(*(f.supervisor.stop() for f in functions), return_exceptions=True)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        if self._spawner is not None:
            await self._spawner.close()
        with contextlib.suppress(OSError):
            (self._store.run_dir / f"zygote{PID_SUFFIX}").unlink()
        await self._collector.close()

    async def info(self) -> ProviderInfo:
        return ProviderInfo(provider=PROVIDER_NAME, orchestration=ORCHESTRATION, version=_version())

    async def health(self) -> None:
        if not self._started or self._closed:
            raise ProviderError("the local provider is not running")
        if not self._store.functions_dir.is_dir():
            raise StateStoreError(f"state directory {self._store.root} is missing")

    # listeners -------------------------------------------------------------------------------------
    def subscribe(self, listener: ReplicaListener) -> None:
        self._listeners.subscribe(listener)

    # functions -------------------------------------------------------------------------------------
    def _function(self, name: str, namespace: str) -> _Function:
        function = self._functions.get((namespace or self.default_namespace, name))
        if function is None:
            raise FunctionNotFound(f"function {name!r} not found in namespace {namespace!r}", field="name")
        return function

    def _status(self, function: _Function) -> FunctionStatus:
        status = function.spec.status(
            replicas=function.desired,
            available_replicas=len(function.supervisor.ready),
            created_at=function.created_at,
        )
        status.namespace = function.namespace
        status.replicaFailure = function.supervisor.failure
        status.updatedReplicas = function.supervisor.updated
        return status

    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        namespace = namespace or self.default_namespace
        return [self._status(f) for (ns, _), f in sorted(self._functions.items()) if ns == namespace]

    async def get_function(self, name: str, namespace: str) -> FunctionStatus:
        return self._status(self._function(name, namespace))

    def _validated(self, spec: FunctionDeployment) -> tuple[FunctionDeployment, str]:
        validate_function_name(spec.service, "service")
        namespace = spec.namespace or self.default_namespace
        validate_namespace(namespace, "namespace")
        if not self._namespace_exists(namespace):
            raise ValidationFailed(f"namespace {namespace!r} does not exist", field="namespace")
        env = spec.envVars or {}
        mode = env.get("mode", "streaming")
        if mode not in _NO_FPROCESS_MODES and not (spec.envProcess or env.get("fprocess")):
            raise ValidationFailed(f"envProcess is required for mode {mode!r}", field="envProcess")
        if mode == "python":
            _check_handler_folder(env.get("handler", ""))
        for secret in spec.secrets or []:
            if self._store.read_secret(namespace, secret) is None:
                raise ValidationFailed(f"unable to find secret: {secret}", field="secrets")
        return spec.model_copy(update={"namespace": namespace}), namespace

    async def deploy(self, spec: FunctionDeployment) -> None:
        async with self._lock:
            spec, namespace = self._validated(spec)
            if (namespace, spec.service) in self._functions:
                raise FunctionExists(f"function {spec.service!r} already exists", field="service")
            desired = scaling_policy(spec.labels).min_replicas
            self._store.sync_mount(namespace, spec.service, spec.secrets or [])
            created_at = datetime.now(UTC)
            self._store.save_function(namespace, spec.service, _record(spec, namespace, desired, created_at))
            self._add_function(spec, namespace, desired, created_at)

    async def update(self, spec: FunctionDeployment) -> None:
        async with self._lock:
            spec, namespace = self._validated(spec)
            function = self._function(spec.service, namespace)
            self._store.sync_mount(namespace, spec.service, spec.secrets or [])
            previous = function.spec
            function.spec = spec
            try:
                self._store.save_function(namespace, spec.service, function.record())
            except StateStoreError:
                function.spec = previous
                raise
            function.supervisor.update(spec)

    async def delete(self, name: str, namespace: str) -> None:
        async with self._lock:
            function = self._function(name, namespace)
            self._store.delete_function(function.namespace, name)
            del self._functions[(function.namespace, name)]
            function.supervisor.retire()
            task = asyncio.create_task(self._retire(function))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, function: _Function) -> None:
        await function.supervisor.stop()
        if (function.namespace, function.spec.service) not in self._functions:
            self._store.remove_mount(function.namespace, function.spec.service)
            self._collector.forget(function.namespace, function.spec.service)
            if isinstance(self._spawner, sandbox.SandboxSpawner):  # its idle zygote goes too
                await self._spawner.forget(function.namespace, function.spec.service)

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        if replicas < 0:
            raise ValidationFailed("replicas must not be negative", field="replicas")
        async with self._lock:
            function = self._function(name, namespace)
            previous = function.desired
            function.desired = replicas
            # Start converging first: the fsync-ed write below then overlaps a cold start instead of
            # delaying it; if the write fails, the previous count is restored and the error raised.
            function.supervisor.scale(replicas)
            try:
                await asyncio.to_thread(
                    self._store.save_function, function.namespace, name, function.record()
                )
            except StateStoreError:
                function.desired = previous
                function.supervisor.scale(previous)
                raise

    # invocation ------------------------------------------------------------------------------------
    async def ready_replicas(self, name: str, namespace: str) -> list[Replica]:
        return self._function(name, namespace).supervisor.ready

    def runtime_status(self, name: str, namespace: str) -> SupervisorStatus:
        """Restarts, last unexpected exit and replica processes of a function (not part of the protocol)."""
        return self._function(name, namespace).supervisor.status()

    async def wait_for_replicas(
        self, name: str, namespace: str, *, count: int = 1, within: float = 30.0
    ) -> list[Replica]:
        """Wait until at least ``count`` replicas are ready; ``FunctionUnavailable`` after ``within`` s."""
        deadline = time.monotonic() + within
        while len(ready := await self.ready_replicas(name, namespace)) < count:
            if time.monotonic() >= deadline:
                raise FunctionUnavailable(f"{name}.{namespace}: {len(ready)}/{count} replicas ready in time")
            await asyncio.sleep(0.01)
        return ready

    # secrets ---------------------------------------------------------------------------------------
    def _secret_namespace(self, secret: Secret) -> str:
        validate_secret_name(secret.name, "name")
        namespace = secret.namespace or self.default_namespace
        validate_namespace(namespace, "namespace")
        if not self._namespace_exists(namespace):
            raise ValidationFailed(f"namespace {namespace!r} does not exist", field="namespace")
        return namespace

    async def list_secrets(self, namespace: str) -> list[Secret]:
        namespace = namespace or self.default_namespace
        return [Secret(name=n, namespace=namespace) for n in self._store.secret_names(namespace)]

    async def create_secret(self, secret: Secret) -> None:
        async with self._lock:
            namespace = self._secret_namespace(secret)
            if self._store.read_secret(namespace, secret.name) is not None:
                raise SecretExists(f"secret {secret.name!r} already exists", field="name")
            self._store.write_secret(namespace, secret.name, secret.payload())
            self._refresh_mounts(namespace, secret.name)  # a function may list it from an earlier life

    async def update_secret(self, secret: Secret) -> None:
        async with self._lock:
            namespace = self._secret_namespace(secret)
            if self._store.read_secret(namespace, secret.name) is None:
                raise SecretNotFound(f"secret {secret.name!r} not found", field="name")
            self._store.write_secret(namespace, secret.name, secret.payload())
            self._refresh_mounts(namespace, secret.name)

    async def delete_secret(self, name: str, namespace: str) -> None:
        async with self._lock:
            namespace = namespace or self.default_namespace
            if self._store.read_secret(namespace, name) is None:
                raise SecretNotFound(f"secret {name!r} not found", field="name")
            self._store.delete_secret(namespace, name)
            self._refresh_mounts(namespace, name)

    def _refresh_mounts(self, namespace: str, secret: str) -> None:
        for (ns, name), function in self._functions.items():
            if ns == namespace and secret in (function.spec.secrets or []):
                self._store.sync_mount(ns, name, function.spec.secrets or [])

    # logs ------------------------------------------------------------------------------------------
    async def logs(self, request: LogRequest) -> AsyncIterator[LogMessage]:
        self._function(request.name, request.namespace)
        if not request.namespace:
            request = replace(request, namespace=self.default_namespace)
        async for message in self._collector.read(request):
            yield message

    # namespaces ------------------------------------------------------------------------------------
    def _namespace_exists(self, name: str) -> bool:
        return name == self.default_namespace or name in self._namespaces

    async def list_namespaces(self) -> list[str]:
        return sorted({self.default_namespace, *self._namespaces})

    async def get_namespace(self, name: str) -> FunctionNamespace:
        if name in self._namespaces:
            return self._namespaces[name].model_copy()
        if name == self.default_namespace:
            return FunctionNamespace(name=name)
        raise NamespaceNotFound(f"namespace {name!r} not found", field="name")

    async def create_namespace(self, namespace: FunctionNamespace) -> None:
        async with self._lock:
            validate_namespace(namespace.name, "name")
            if self._namespace_exists(namespace.name):
                raise Conflict(f"namespace {namespace.name!r} already exists", field="name")
            self._store.save_namespace(namespace.name, namespace.wire())
            self._namespaces[namespace.name] = namespace.model_copy()

    async def update_namespace(self, namespace: FunctionNamespace) -> None:
        async with self._lock:
            if not self._namespace_exists(namespace.name):
                raise NamespaceNotFound(f"namespace {namespace.name!r} not found", field="name")
            self._store.save_namespace(namespace.name, namespace.wire())
            self._namespaces[namespace.name] = namespace.model_copy()

    async def delete_namespace(self, name: str) -> None:
        async with self._lock:
            if name == self.default_namespace:
                raise ValidationFailed("the default namespace cannot be deleted", field="name")
            if name not in self._namespaces:
                raise NamespaceNotFound(f"namespace {name!r} not found", field="name")
            if any(ns == name for ns, _ in self._functions):
                raise Conflict(f"namespace {name!r} still has functions; delete them first", field="name")
            for secret in self._store.secret_names(name):
                self._store.delete_secret(name, secret)
            self._store.delete_namespace(name)
            del self._namespaces[name]
