"""The platform as separate, individually killable processes, for fault tests and the soak benchmark.

``ProcessStack(root)`` runs a real ``nats-server -js`` (file store), ``python -m pyfaas.gateway`` (local
provider, basic auth, async routes on that NATS), ``python -m pyfaas.worker`` and
``python -m pyfaas.idler``, each on its own ephemeral loopback port, plus an in-process callback receiver.
Every part can be SIGKILLed (``kill_*``) and started again on the same port and state (``restart_*``).
``close()`` stops everything, including replicas a SIGKILLed gateway left behind (found by their
environment, see ``pyfaas_processes``).

``deploy_echo`` and ``deploy_sleepy`` put the two functions the fault suite uses in place: ``echo`` (python
mode, ``com.openfaas.scale.min`` replicas) and ``sleepy`` (scale to zero after a short idle time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import nats
from nats.js.errors import KeyNotFoundError

from pyfaas.core.queue_layout import QueueLayout
from tests.support.async_calls import CallbackReceiver
from tests.support.gateway import CREDENTIALS, GatewayProcess, free_port, write_credentials
from tests.support.nats import NatsServer
from tests.support.polling import PollTimeout, eventually
from tests.support.providers import pyfaas_processes, python_function, write_handler
from tests.support.worker_process import WorkerProcess

__all__ = ["ECHO_HANDLER", "FINAL_STATES", "IdlerProcess", "ProcessStack", "call_states"]

REPO_ROOT = Path(__file__).resolve().parents[2]
FINAL_STATES = frozenset({"succeeded", "failed", "dead-lettered"})

ECHO_HANDLER = """
def handle(event, context):
    return {"statusCode": 200, "body": event.body.decode()}
"""


def _alive(process: subprocess.Popen[bytes] | None) -> bool:
    return process is not None and process.poll() is None


async def _status(session: aiohttp.ClientSession, method: str, url: str) -> int:
    """The status of one request; 0 when it cannot connect."""
    with contextlib.suppress(aiohttp.ClientError):
        async with session.request(method, url) as response:
            return response.status
    return 0


def _sigkill(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL one process (not its group: a gateway's replicas live in groups of their own anyway)."""
    if _alive(process):
        assert process is not None
        process.kill()
        process.wait(5)


class IdlerProcess:
    """``python -m pyfaas.idler`` as a child process; ``url`` serves ``/healthz`` and ``/metrics``."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.env = {**env, "metrics_port": str(self.port), "bind_address": "127.0.0.1"}
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        with (self.log_dir / f"idler-{self.starts}.log").open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pyfaas.idler"],
                env={"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", **self.env},
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        _sigkill(self.process)

    def stop(self) -> None:
        if _alive(self.process):
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("idler-*.log"))
        )


class ProcessStack:
    def __init__(
        self,
        root: Path,
        *,
        gateway_env: dict[str, str] | None = None,
        worker_env: dict[str, str] | None = None,
        idler_env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.state_dir = root / "state"
        self.logs_dir = root / "logs"
        self.secrets_dir = root / "gateway-secrets"
        for directory in (root / "nats", self.state_dir, self.logs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        write_credentials(self.secrets_dir)
        self.nats = NatsServer(root / "nats")
        self.receiver = CallbackReceiver()
        self._gateway_env = gateway_env or {}
        self._worker_env = worker_env or {}
        self._idler_env = idler_env or {}
        self.gateway: GatewayProcess | None = None
        self.worker: WorkerProcess | None = None
        self.idler: IdlerProcess | None = None
        self.auth = aiohttp.BasicAuth(*CREDENTIALS)
        self.layout = QueueLayout()

    # lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.nats.start)
        await self.receiver.start()
        self.gateway = GatewayProcess(
            self.state_dir,
            {
                "nats_url": self.nats.url,
                "basic_auth": "true",
                "secret_mount_path": str(self.secrets_dir),
                "async_publish_timeout": "2s",
                "upstream_timeout": "10s",
                "LOG_LEVEL": "WARNING",
                **self._gateway_env,
            },
        )
        await self.gateway.start()
        await self._wait_async_ready()
        self.worker = WorkerProcess(
            {
                "nats_url": self.nats.url,
                "gateway_url": self.gateway.url,
                "max_inflight": "50",
                "ack_wait": "2s",
                "initial_retry_wait": "200ms",
                "max_retry_wait": "1s",
                "max_retry_attempts": "30",
                "discovery_interval": "100ms",
                "idle_poll": "1s",
                "callback_initial_wait": "100ms",
                "callback_max_wait": "1s",
                "metrics_port": "-1",
                "log_level": "WARNING",
                **self._worker_env,
            },
            self.logs_dir,
        )
        self.worker.start()
        self.idler = IdlerProcess(
            {
                "gateway_url": self.gateway.url,
                "gateway_metrics_url": f"http://127.0.0.1:{self.gateway.metrics_port}/metrics",
                "secret_mount_path": str(self.secrets_dir),
                "reconcile_interval": "250ms",
                "rate_window": "2s",
                "log_level": "WARNING",
                **self._idler_env,
            },
            self.logs_dir,
        )
        self.idler.start()
        await self.wait_idler_healthy()

    async def close(self) -> None:
        if self.idler is not None:
            self.idler.stop()
        if self.worker is not None:
            self.worker.kill()
        if self.gateway is not None:
            await self.gateway.stop(within=20)
        # Replicas orphaned by a SIGKILLed gateway that no later gateway stopped: ours, killed by PID.
        for pid in pyfaas_processes(self.state_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.nats.kill()
        await self.receiver.close()

    # faults ----------------------------------------------------------------------------------------
    def kill_gateway(self) -> None:
        assert self.gateway is not None
        _sigkill(self.gateway.process)
        self.gateway.process = None

    async def restart_gateway(self) -> None:
        assert self.gateway is not None
        await self.gateway.start()

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.kill()

    def restart_worker(self) -> None:
        assert self.worker is not None
        self.worker.start()

    def kill_nats(self) -> None:
        self.nats.kill()

    async def restart_nats(self) -> None:
        await asyncio.to_thread(self.nats.start)

    def kill_idler(self) -> None:
        assert self.idler is not None
        self.idler.kill()

    async def restart_idler(self) -> None:
        assert self.idler is not None
        self.idler.start()
        await self.wait_idler_healthy()

    # helpers ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    def session(self, **kwargs: Any) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(self.url, auth=self.auth, **kwargs)

    async def _wait_async_ready(self, within: float = 15.0) -> None:
        """Until the gateway's NATS connection is up (an async call to a missing function gets 404)."""
        async with self.session() as session:
            await eventually(
                lambda: _status(session, "POST", "/async-function/no-such-function"),
                lambda status: status == 404,
                within,
                interval=0.05,
                what="the gateway's async path (404 for a missing function)",
            )

    async def wait_idler_healthy(self, within: float = 15.0) -> None:
        idler = self.idler
        assert idler is not None
        async with aiohttp.ClientSession() as session:
            try:
                await eventually(
                    lambda: _status(session, "GET", f"{idler.url}/healthz"),
                    lambda status: status == 200,
                    within,
                    interval=0.05,
                    what="the idler's /healthz",
                )
            except PollTimeout as exc:
                raise AssertionError(f"{exc}\nidler log:\n{idler.logs()[-2000:]}") from exc

    async def deploy_echo(self, name: str = "echo", replicas: int = 2, **fields: Any) -> None:
        handler = write_handler(self.root / f"handler-{name}", ECHO_HANDLER)
        labels = {"com.openfaas.scale.min": str(replicas), **fields.pop("labels", {})}
        await self.deploy(python_function(name, handler, labels=labels, **fields).wire(), name, replicas)

    async def deploy_sleepy(self, name: str = "sleepy", idle: str = "2s") -> None:
        handler = write_handler(self.root / f"handler-{name}", ECHO_HANDLER)
        labels = {"com.openfaas.scale.zero": "true", "com.openfaas.scale.zero-duration": idle}
        await self.deploy(python_function(name, handler, labels=labels).wire(), name, 1)

    async def deploy(self, spec: dict[str, Any], name: str, replicas: int) -> None:
        async with self.session() as session, session.post("/system/functions", json=spec) as response:
            assert response.status in (200, 202), await response.text()
        await self.wait_replicas(name, replicas)

    async def function_status(self, name: str) -> dict[str, Any]:
        async with self.session() as session, session.get(f"/system/function/{name}") as response:
            assert response.status == 200, await response.text()
            result: dict[str, Any] = await response.json()
            return result

    async def wait_replicas(self, name: str, replicas: int, within: float = 20.0) -> dict[str, Any]:
        async def status() -> dict[str, Any]:
            with contextlib.suppress(aiohttp.ClientError, AssertionError):
                return await self.function_status(name)
            return {}

        return await eventually(
            status,
            lambda found: (
                found.get("availableReplicas", 0) == replicas and found.get("replicas", 0) == replicas
            ),
            within,
            interval=0.05,
            what=f"{name}: {replicas} replicas",
        )

    def replica_pids(self, namespace: str = "openfaas-fn", name: str = "echo") -> list[int]:
        """PIDs from the provider's run-directory records (``<replica>.pid``: pid and start time)."""
        pids = []
        for record in sorted((self.state_dir / "run" / namespace / name).glob("*.pid")):
            with contextlib.suppress(OSError, ValueError, IndexError):
                pids.append(int(record.read_text().split()[0]))
        return pids


async def call_states(
    nats_url: str, call_ids: Iterable[str], layout: QueueLayout | None = None
) -> Counter[str]:
    """The state of each call id's record in the KV bucket (``missing`` when there is none)."""
    layout = layout or QueueLayout()
    states: Counter[str] = Counter()
    nc = await nats.connect(nats_url, max_reconnect_attempts=5, reconnect_time_wait=0.2)
    try:
        kv = await nc.jetstream().key_value(layout.records_bucket)
        for call_id in call_ids:
            try:
                entry = await kv.get(call_id)
            except KeyNotFoundError:
                states["missing"] += 1
                continue
            states[json.loads(entry.value or b"{}").get("state", "?")] += 1
    finally:
        await nc.close()
    return states
