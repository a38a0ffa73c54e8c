"""Gateway test helpers: a real gateway on an ephemeral loopback port, in-process or as a subprocess.

``running_gateway(state_dir, ...)`` builds the real app (``create_app``) on a real ``LocalProvider`` (whose
replicas are real watchdog processes) and serves it with an ``AppRunner``; ``GatewayProcess`` runs
``python -m pyfaas.gateway`` for restart and SIGTERM tests. ``MemoryProvider`` is an in-memory ``Provider``
for unit tests of the gateway's own logic (routing, proxying, validation) where the provider is not what is
under test; its replicas point at real HTTP servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from pyfaas.core.errors import FunctionExists, FunctionNotFound, NamespaceNotFound, SecretNotFound
from pyfaas.core.models import (
    FunctionDeployment,
    FunctionNamespace,
    FunctionStatus,
    LogMessage,
    ProviderInfo,
    Secret,
    VersionInfo,
)
from pyfaas.gateway.app import create_app
from pyfaas.gateway.async_calls.routes import AsyncSettings
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.provider.base import LogRequest, Provider, Replica, ReplicaListener
from pyfaas.provider.local import LocalProvider, LocalProviderConfig
from tests.support import polling

__all__ = [
    "CREDENTIALS",
    "GatewayProcess",
    "MemoryProvider",
    "RunningGateway",
    "free_port",
    "running_gateway",
    "serve",
    "wait_available",
    "write_credentials",
]

CREDENTIALS = ("admin", "pyfaas-test-password")
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_credentials(directory: Path, user: str = CREDENTIALS[0], password: str = CREDENTIALS[1]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "basic-auth-user").write_text(user + "\n")
    (directory / "basic-auth-password").write_text(password + "\n")
    return directory


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 with an ephemeral port; yields the base URL."""
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass
class RunningGateway:
    url: str
    app: web.Application
    provider: Provider
    registry: CollectorRegistry
    settings: GatewaySettings
    auth: aiohttp.BasicAuth | None

    def session(self, **kwargs: Any) -> aiohttp.ClientSession:
        """A client session with the gateway's credentials (when auth is on)."""
        return aiohttp.ClientSession(self.url, auth=self.auth, **kwargs)

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@contextlib.asynccontextmanager
async def running_gateway(
    state_dir: Path,
    *,
    env: dict[str, str] | None = None,
    provider: Provider | None = None,
    auth: bool = False,
    async_settings: AsyncSettings | None = None,
    **provider_overrides: Any,
) -> AsyncIterator[RunningGateway]:
    """The real gateway app on a real LocalProvider (unless ``provider`` is given), on an ephemeral port."""
    environ = {"state_dir": str(state_dir), **(env or {})}
    if auth:
        environ["basic_auth"] = "true"
        environ["secret_mount_path"] = str(write_credentials(state_dir / "gateway-secrets"))
    settings = GatewaySettings.from_env(environ)
    if provider is None:
        provider = LocalProvider(
            LocalProviderConfig(
                state_dir=state_dir,
                default_namespace=settings.function_namespace,
                **provider_overrides,
            )
        )
    registry = CollectorRegistry()
    app = create_app(settings, provider, registry=registry, async_settings=async_settings)
    async with serve(app) as url:
        yield RunningGateway(
            url=url,
            app=app,
            provider=provider,
            registry=registry,
            settings=settings,
            auth=aiohttp.BasicAuth(*CREDENTIALS) if auth else None,
        )


async def wait_available(
    session: aiohttp.ClientSession, name: str, replicas: int, *, within: float = 30.0, namespace: str = ""
) -> dict[str, Any]:
    """Poll ``/system/function/NAME`` until ``availableReplicas == replicas``; the last status on success."""
    query = f"?namespace={namespace}" if namespace else ""

    async def status() -> dict[str, Any]:
        async with session.get(f"/system/function/{name}{query}") as response:
            return await response.json() if response.status == 200 else {}

    return await polling.eventually(
        status,
        lambda found: found.get("availableReplicas", 0) == replicas and found.get("replicas", 0) == replicas,
        within,
        interval=0.05,
        what=f"{name}: {replicas} available replicas",
    )


class GatewayProcess:
    """``python -m pyfaas.gateway`` as a child process on free loopback ports; killed on ``stop``."""

    def __init__(self, state_dir: Path, env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.metrics_port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "bind_address": "127.0.0.1",
            "port": str(self.port),
            "metrics_port": str(self.metrics_port),
            "state_dir": str(state_dir),
            **(env or {}),
        }
        self.log_path = state_dir / f"gateway-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, within: float = 20.0) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - a quick fork, then polled
                [sys.executable, "-m", "pyfaas.gateway"],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"gateway exited: {self.log_path.read_text()[-2000:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise AssertionError(f"gateway not healthy in {within}s: {self.log_path.read_text()[-2000:]}")

    async def stop(self, within: float = 20.0) -> int | None:
        """SIGTERM, wait (graceful drain), SIGKILL the group if it does not exit; returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + within
            while process.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - a child process
                await asyncio.sleep(0.05)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        self.process = None
        return process.returncode


# in-memory provider (unit tests) ------------------------------------------------------------------
@dataclass
class _MemoryFunction:
    spec: FunctionDeployment
    desired: int
    replicas: list[Replica] = field(default_factory=list)


class MemoryProvider:
    """An in-memory ``Provider``: functions are records; replicas are URLs the test supplies.

    ``on_scale(name, namespace, replicas)`` lets a test decide what scaling does (e.g. start a real HTTP
    server after a delay and call :meth:`set_ready`).
    """

    def __init__(self, default_namespace: str = "openfaas-fn") -> None:
        self.default_namespace = default_namespace
        self.functions: dict[tuple[str, str], _MemoryFunction] = {}
        self.secrets: dict[tuple[str, str], Secret] = {}
        self.namespaces: dict[str, FunctionNamespace] = {
            default_namespace: FunctionNamespace(name=default_namespace)
        }
        self.listeners: list[ReplicaListener] = []
        self.scale_calls: list[tuple[str, str, int]] = []
        self.get_calls = 0
        self.on_scale: Callable[[str, str, int], None] | None = None
        self.started = False
        self.closed = False
        self.log_lines: list[LogMessage] = []

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    async def info(self) -> ProviderInfo:
        return ProviderInfo(
            provider="memory", orchestration="none", version=VersionInfo(sha="x", release="1")
        )

    async def health(self) -> None:
        return None

    def add(
        self, name: str, urls: Sequence[str] = (), *, namespace: str | None = None, **fields: Any
    ) -> None:
        namespace = namespace or self.default_namespace
        spec = FunctionDeployment(service=name, image="memory", namespace=namespace, **fields)
        self.functions[(name, namespace)] = _MemoryFunction(spec, len(urls))
        self.set_ready(name, list(urls), namespace=namespace)

    def set_ready(self, name: str, urls: list[str], *, namespace: str | None = None) -> list[Replica]:
        namespace = namespace or self.default_namespace
        function = self.functions[(name, namespace)]
        known = {replica.url: replica for replica in function.replicas}
        function.replicas = [
            known.get(url) or Replica(id=f"{name}-{i}", url=url) for i, url in enumerate(urls)
        ]
        for listener in list(self.listeners):
            listener(name, namespace, list(function.replicas))
        return function.replicas

    def _get(self, name: str, namespace: str) -> _MemoryFunction:
        try:
            return self.functions[(name, namespace)]
        except KeyError:
            raise FunctionNotFound(f"function {name!r} not found in {namespace!r}", field="name") from None

    def _status(self, function: _MemoryFunction) -> FunctionStatus:
        return function.spec.status(
            replicas=function.desired,
            available_replicas=len(function.replicas),
            created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        )

    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        return [self._status(f) for (_, ns), f in self.functions.items() if ns == namespace]

    async def get_function(self, name: str, namespace: str) -> FunctionStatus:
        self.get_calls += 1
        await asyncio.sleep(0)  # a real provider's read yields (a request): concurrent callers overlap
        return self._status(self._get(name, namespace))

    async def deploy(self, spec: FunctionDeployment) -> None:
        namespace = spec.namespace or self.default_namespace
        if (spec.service, namespace) in self.functions:
            raise FunctionExists(f"function {spec.service!r} exists", field="service")
        self.functions[(spec.service, namespace)] = _MemoryFunction(spec, 1)

    async def update(self, spec: FunctionDeployment) -> None:
        function = self._get(spec.service, spec.namespace or self.default_namespace)
        function.spec = spec

    async def delete(self, name: str, namespace: str) -> None:
        self._get(name, namespace)
        del self.functions[(name, namespace)]
        for listener in list(self.listeners):
            listener(name, namespace, [])

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        function = self._get(name, namespace)
        function.desired = replicas
        self.scale_calls.append((name, namespace, replicas))
        if self.on_scale is not None:
            self.on_scale(name, namespace, replicas)

    async def ready_replicas(self, name: str, namespace: str) -> list[Replica]:
        return list(self._get(name, namespace).replicas)

    def subscribe(self, listener: ReplicaListener) -> None:
        self.listeners.append(listener)

    async def list_secrets(self, namespace: str) -> list[Secret]:
        return [Secret(name=n, namespace=ns) for (n, ns) in self.secrets if ns == namespace]

    async def create_secret(self, secret: Secret) -> None:
        self.secrets[(secret.name, secret.namespace or self.default_namespace)] = secret

    async def update_secret(self, secret: Secret) -> None:
        key = (secret.name, secret.namespace or self.default_namespace)
        if key not in self.secrets:
            raise SecretNotFound(f"secret {secret.name!r} not found", field="name")
        self.secrets[key] = secret

    async def delete_secret(self, name: str, namespace: str) -> None:
        if self.secrets.pop((name, namespace), None) is None:
            raise SecretNotFound(f"secret {name!r} not found", field="name")

    async def logs(self, request: LogRequest) -> AsyncIterator[LogMessage]:
        for line in self.log_lines:
            if line.name == request.name:
                yield line
        if request.follow:
            await asyncio.Event().wait()  # a followed stream stays open until the caller goes

    async def list_namespaces(self) -> list[str]:
        return sorted(self.namespaces)

    async def get_namespace(self, name: str) -> FunctionNamespace:
        try:
            return self.namespaces[name]
        except KeyError:
            raise NamespaceNotFound(f"namespace {name!r} not found", field="namespace") from None

    async def create_namespace(self, namespace: FunctionNamespace) -> None:
        self.namespaces[namespace.name] = namespace

    async def update_namespace(self, namespace: FunctionNamespace) -> None:
        await self.get_namespace(namespace.name)
        self.namespaces[namespace.name] = namespace

    async def delete_namespace(self, name: str) -> None:
        await self.get_namespace(name)
        del self.namespaces[name]
