"""Autoscaling test helpers: real Prometheus and AlertManager on loopback, a gateway wired to them, load.

``monitoring(work_dir, ...)`` starts ``prometheus`` and ``prometheus-alertmanager`` on ephemeral ports with
temporary storage (``pyfaas.cli.local.monitoring.MonitoringStack``, local timings) and stops them afterwards.
``autoscale_platform(tmp)`` adds the real gateway (in-process ``create_app`` on a real ``LocalProvider`` whose
replicas are watchdog processes) with basic auth and its metrics listener, so AlertManager posts to the
gateway's ``/system/alert`` exactly as in a deployment. ``Load`` drives ``/function/NAME`` at a fixed rate
and records status codes and which replica (PID) answered when. ``requires_monitoring`` skips a test only
when the binaries are absent (scripts/test.sh installs them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from prometheus_client import CollectorRegistry

from pyfaas.cli.local.monitoring import MonitoringConfig, MonitoringStack, find_binaries
from pyfaas.core.alerting import LOCAL_TIMINGS, Timings
from pyfaas.core.models import FunctionDeployment
from pyfaas.gateway.metrics import create_metrics_app
from pyfaas.idler.app import create_app as create_idler_app
from pyfaas.idler.settings import IdlerSettings
from tests.support import polling
from tests.support.gateway import RunningGateway, running_gateway, serve
from tests.support.providers import python_function, write_handler

__all__ = [
    "PID_HANDLER",
    "AutoscalePlatform",
    "Load",
    "RunningIdler",
    "alerts_for",
    "autoscale_platform",
    "deploy_pid_function",
    "monitoring",
    "prom_query",
    "replicas_of",
    "requires_monitoring",
    "running_idler",
    "wait_replicas",
]

requires_monitoring = pytest.mark.skipif(
    find_binaries() is None, reason="prometheus / prometheus-alertmanager binaries are not installed"
)

PID_HANDLER = """
import os

def handle(event, context):
    return {"statusCode": 200, "body": str(os.getpid())}
"""
"""A python3-http handler answering its replica's PID, so a test sees which replica served a call."""


@contextlib.asynccontextmanager
async def monitoring(
    work_dir: Path,
    *,
    gateway_url: str,
    gateway_metrics_target: str,
    secret_dir: Path | None = None,
    timings: Timings = LOCAL_TIMINGS,
) -> AsyncIterator[MonitoringStack]:
    """Prometheus + AlertManager on free loopback ports, storage under ``work_dir``; stopped on exit."""
    config = MonitoringConfig(
        work_dir=work_dir,
        gateway_url=gateway_url,
        gateway_metrics_target=gateway_metrics_target,
        basic_auth_user=(secret_dir / "basic-auth-user").read_text().strip() if secret_dir else None,
        basic_auth_password_file=str(secret_dir / "basic-auth-password") if secret_dir else None,
        timings=timings,
    )
    async with MonitoringStack(config) as stack:
        yield stack


@dataclass
class AutoscalePlatform:
    gateway: RunningGateway
    metrics_url: str
    """The gateway's metrics listener (``/metrics``), as the idler reads it without Prometheus."""
    stack: MonitoringStack | None
    handler_dir: Path
    secret_dir: Path
    """The gateway's ``basic-auth-user`` / ``basic-auth-password`` files."""


@contextlib.asynccontextmanager
async def autoscale_platform(tmp: Path, *, with_monitoring: bool = True) -> AsyncIterator[AutoscalePlatform]:
    """The real gateway (basic auth on) + its metrics listener + (optionally) Prometheus and AlertManager."""
    handler_dir = write_handler(tmp / "pid-handler", PID_HANDLER)
    secret_dir = tmp / "state" / "gateway-secrets"  # where running_gateway(auth=True) writes them
    async with (
        running_gateway(tmp / "state", auth=True) as gateway,
        serve(create_metrics_app(gateway.registry)) as metrics_base,
    ):
        stack: MonitoringStack | None = None
        async with contextlib.AsyncExitStack() as exits:
            if with_monitoring:
                stack = await exits.enter_async_context(
                    monitoring(
                        tmp / "monitoring",
                        gateway_url=gateway.url,
                        gateway_metrics_target=metrics_base.removeprefix("http://"),
                        secret_dir=secret_dir,
                    )
                )
            yield AutoscalePlatform(gateway, f"{metrics_base}/metrics", stack, handler_dir, secret_dir)


@dataclass
class RunningIdler:
    url: str
    registry: CollectorRegistry
    settings: IdlerSettings

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@contextlib.asynccontextmanager
async def running_idler(
    platform: AutoscalePlatform, *, use_prometheus: bool = False, **env: str
) -> AsyncIterator[RunningIdler]:
    """The real scaling controller (``pyfaas.idler.app.create_app``) in-process, talking HTTP to the gateway
    (basic auth) and reading load from Prometheus (``use_prometheus``) or the gateway's metrics listener."""
    environ = {
        "gateway_url": platform.gateway.url,
        "gateway_metrics_url": platform.metrics_url,
        "secret_mount_path": str(platform.secret_dir),
        "reconcile_interval": "200ms",
        **env,
    }
    if use_prometheus:
        assert platform.stack is not None, "use_prometheus needs the platform's monitoring stack"
        environ["prometheus_host"] = platform.stack.config.host
        environ["prometheus_port"] = str(platform.stack.prometheus_port)
    settings = IdlerSettings.from_env(environ)
    registry = CollectorRegistry()
    async with serve(create_idler_app(settings, registry=registry)) as url:
        yield RunningIdler(url, registry, settings)


async def deploy_pid_function(
    platform: AutoscalePlatform, name: str, labels: dict[str, str], *, ready_within: float = 30.0
) -> FunctionDeployment:
    spec = python_function(name, platform.handler_dir, labels=labels)
    async with (
        platform.gateway.session() as session,
        session.post("/system/functions", json=spec.wire()) as r,
    ):
        assert r.status == 202, await r.text()
    await wait_replicas(platform.gateway, name, lambda d, a: a >= 1, within=ready_within, what="deployed")
    return spec


async def replicas_of(gateway: RunningGateway, name: str) -> tuple[int, int]:
    """(desired, available) replicas through the gateway's API."""
    async with gateway.session() as session, session.get(f"/system/function/{name}") as response:
        assert response.status == 200, await response.text()
        status: dict[str, Any] = await response.json()
    return int(status.get("replicas", 0)), int(status.get("availableReplicas", 0))


async def wait_replicas(
    gateway: RunningGateway, name: str, predicate: Any, *, within: float, what: str = ""
) -> tuple[int, int]:
    """Poll until ``predicate(desired, available)``; fail with the last counts after ``within`` seconds."""
    return await polling.eventually(
        lambda: replicas_of(gateway, name),
        lambda counts: predicate(*counts),
        within,
        what=f"{name}: {what or 'replica condition'} (desired, available)",
    )


async def prom_query(prometheus_url: str, promql: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.get(f"{prometheus_url}/api/v1/query", params={"query": promql})
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result


async def alerts_for(alertmanager_url: str, function_name: str) -> list[dict[str, Any]]:
    """AlertManager's current alerts (API v2) for ``function_name``."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.get(f"{alertmanager_url}/api/v2/alerts")
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
    return [a for a in alerts if a.get("labels", {}).get("function_name") == function_name]


@dataclass
class Load:
    """Calls ``GET /function/NAME`` at ``rps`` calls per second (``concurrency`` at most in flight)."""

    base_url: str
    name: str
    rps: float
    concurrency: int = 8
    codes: Counter[int] = field(default_factory=Counter)
    first_seen: dict[str, float] = field(default_factory=dict)
    """Replica PID → monotonic time its first answer arrived."""
    errors: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    def set_rate(self, rps: float) -> None:
        self.rps = rps

    @property
    def failures(self) -> int:
        return sum(count for code, count in self.codes.items() if code != 200) + len(self.errors)

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        pending: set[asyncio.Task[None]] = set()
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(self.base_url, timeout=timeout) as session:
            next_at = time.monotonic()
            while not self._stop.is_set():
                await slots.acquire()
                task = asyncio.create_task(self._call(session, slots))
                pending.add(task)
                task.add_done_callback(pending.discard)
                next_at += 1.0 / self.rps
                delay = next_at - time.monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
                else:
                    next_at = time.monotonic()  # fell behind: do not burst to catch up
            if pending:
                await asyncio.gather(*pending)

    async def _call(self, session: aiohttp.ClientSession, slots: asyncio.Semaphore) -> None:
        try:
            async with session.get(f"/function/{self.name}") as response:
                body = await response.text()
                self.codes[response.status] += 1
                if response.status == 200:
                    self.first_seen.setdefault(body.strip(), time.monotonic())
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.errors.append(repr(exc))
        finally:
            slots.release()
