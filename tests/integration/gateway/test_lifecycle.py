"""End to end on loopback: the real gateway, the real LocalProvider, real watchdog processes."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import polling
from tests.support.async_calls import eventually, until
from tests.support.gateway import GatewayProcess, RunningGateway, running_gateway, wait_available
from tests.support.providers import write_handler

pytestmark = pytest.mark.timeout(120)

VERSION_HANDLER = """
import os

def handle(event, context):
    return {"statusCode": 200, "body": os.environ.get("VERSION", "?") + ":" + event.body.decode()}
"""

SECRET_HANDLER = """
import os
from pathlib import Path

def handle(event, context):
    base = Path(os.environ["secret_mount_path"])
    name = event.query.get("name", "")
    try:
        return {"statusCode": 200, "body": (base / name).read_text()}
    except OSError as exc:
        return {"statusCode": 404, "body": str(exc)}
"""


@pytest.fixture
def handlers(tmp_path: Path) -> dict[str, Path]:
    return {
        "version": write_handler(tmp_path / "handlers" / "version", VERSION_HANDLER),
        "secret": write_handler(tmp_path / "handlers" / "secret", SECRET_HANDLER),
    }


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    async with running_gateway(tmp_path / "state") as running:
        yield running


def version_spec(name: str, handler: Path, version: str, **extra: object) -> dict[str, object]:
    return {
        "service": name,
        "image": "local",
        "envVars": {"mode": "python", "handler": str(handler), "VERSION": version},
        **extra,
    }


async def test_deploy_invoke_update_under_load_scale_delete(
    gateway: RunningGateway, handlers: dict[str, Path]
) -> None:
    async with gateway.session() as session:
        async with session.post(
            "/system/functions", json=version_spec("ver", handlers["version"], "v1")
        ) as r:
            assert r.status == 202
        await wait_available(session, "ver", 1)
        async with session.post("/function/ver", data=b"hello") as r:
            assert (r.status, await r.text()) == (200, "v1:hello")

        # Rolling update while callers keep calling: not one call may fail.
        outcomes: Counter[str] = Counter()
        stop = asyncio.Event()

        async def caller() -> None:
            while not stop.is_set():
                try:
                    async with session.post("/function/ver", data=b"x") as response:
                        body = await response.text()
                        outcomes[f"{response.status} {body}"] += 1
                except aiohttp.ClientError as exc:
                    outcomes[f"error {exc!r}"] += 1

        callers = [asyncio.create_task(caller()) for _ in range(4)]
        await until(lambda: outcomes["200 v1:x"] >= 8, limit=30, what=f"calls served by v1: {outcomes}")
        async with session.put("/system/functions", json=version_spec("ver", handlers["version"], "v2")) as r:
            assert r.status == 202
        await until(lambda: outcomes["200 v2:x"] >= 20, limit=30, what=f"calls served by v2: {outcomes}")
        stop.set()
        await asyncio.gather(*callers)
        assert set(outcomes) <= {"200 v1:x", "200 v2:x"}, outcomes
        assert outcomes["200 v2:x"] >= 20, outcomes
        async with session.post("/function/ver", data=b"after") as r:
            assert await r.text() == "v2:after"

        async with session.post(
            "/system/scale-function/ver", json={"serviceName": "ver", "replicas": 3}
        ) as r:
            assert r.status == 202
        await wait_available(session, "ver", 3)
        ids = set()
        for _ in range(6):
            async with session.post("/function/ver") as r:
                assert r.status == 200
                ids.add(r.headers.get("X-Call-Id"))
        async with session.post("/system/scale-function/ver", json={"replicas": 1}) as r:
            assert r.status == 202
        await wait_available(session, "ver", 1)
        async with session.post("/function/ver", data=b"one") as r:
            assert await r.text() == "v2:one"

        async with session.delete("/system/functions", json={"functionName": "ver"}) as r:
            assert r.status == 202
        async with session.post("/function/ver") as r:
            assert r.status == 404
        async with session.get("/system/functions") as r:
            assert await r.json() == []


async def test_secrets_are_seen_by_functions(gateway: RunningGateway, handlers: dict[str, Path]) -> None:
    async with gateway.session() as session:
        async with session.post("/system/secrets", json={"name": "api-key", "value": "s3cr3t"}) as r:
            assert r.status == 202
        async with session.post("/system/secrets", json={"name": "other", "value": "not yours"}) as r:
            assert r.status == 202
        spec = {
            "service": "reader",
            "image": "local",
            "secrets": ["api-key"],
            "envVars": {"mode": "python", "handler": str(handlers["secret"])},
        }
        async with session.post("/system/functions", json=spec) as r:
            assert r.status == 202
        await wait_available(session, "reader", 1)
        async with session.get("/function/reader?name=api-key") as r:
            assert (r.status, await r.text()) == (200, "s3cr3t")
        async with session.get("/function/reader?name=other") as r:
            assert r.status == 404  # only the secrets a function lists are mounted for it
        async with session.get("/system/secrets") as r:
            names = sorted(item["name"] for item in await r.json())
            assert names == ["api-key", "other"]


async def test_scale_from_zero_twenty_concurrent_first_calls(
    gateway: RunningGateway, handlers: dict[str, Path]
) -> None:
    async with gateway.session() as session:
        async with session.post(
            "/system/functions", json=version_spec("cold", handlers["version"], "c")
        ) as r:
            assert r.status == 202
        await wait_available(session, "cold", 1)
        async with session.post("/system/scale-function/cold", json={"replicas": 0}) as r:
            assert r.status == 202
        await wait_available(session, "cold", 0)

        async def first_call(index: int) -> tuple[int, str]:
            async with session.post("/function/cold", data=str(index).encode()) as response:
                return response.status, await response.text()

        results = await asyncio.gather(*(first_call(i) for i in range(20)))
        assert results == [(200, f"c:{i}") for i in range(20)]
        status = await wait_available(session, "cold", 1)
        assert status["replicas"] == 1  # one shared scale-up to max(1, scale.min)
    cold = gateway.metric("gateway_function_cold_start_seconds_count", function_name="cold.openfaas-fn")
    assert cold == 1


async def test_logs_of_a_function(gateway: RunningGateway, handlers: dict[str, Path]) -> None:
    async with gateway.session() as session:
        async with session.post(
            "/system/functions", json=version_spec("talk", handlers["version"], "l")
        ) as r:
            assert r.status == 202
        await wait_available(session, "talk", 1)
        for _ in range(3):
            async with session.post("/function/talk") as r:
                assert r.status == 200

        async def log_lines() -> list[str]:
            async with session.get("/system/logs?name=talk&tail=50") as r:
                assert r.status == 200
                return (await r.text()).splitlines()

        await polling.eventually(log_lines, lambda lines: len(lines) >= 3, 10)


async def test_gateway_restart_keeps_functions(tmp_path: Path, handlers: dict[str, Path]) -> None:
    state = tmp_path / "state"
    first = GatewayProcess(state)
    await first.start()
    try:
        async with aiohttp.ClientSession(first.url) as session:
            async with session.post(
                "/system/functions", json=version_spec("keep", handlers["version"], "k")
            ) as r:
                assert r.status == 202
            async with session.post("/system/scale-function/keep", json={"replicas": 2}) as r:
                assert r.status == 202
            await wait_available(session, "keep", 2)
    finally:
        assert await first.stop() == 0  # graceful SIGTERM exits 0

    second = GatewayProcess(state)
    await second.start()
    try:
        async with aiohttp.ClientSession(second.url) as session:
            status = await wait_available(session, "keep", 2)
            assert status["envVars"]["VERSION"] == "k"
            async with session.post("/function/keep", data=b"back") as r:
                assert (r.status, await r.text()) == (200, "k:back")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{second.metrics_port}/metrics") as r:
                text = await r.text()
            assert (
                'gateway_function_invocation_total{code="200",function_name="keep.openfaas-fn"} 1.0' in text
            )
            async with session.get(f"http://127.0.0.1:{second.metrics_port}/healthz") as r:
                assert await r.text() == "OK"
    finally:
        assert await second.stop() == 0


SLOW_HANDLER = """
import time

def handle(event, context):
    time.sleep(float(event.query.get("s", "1")))  # a call still running while the gateway stops
    return {"statusCode": 200, "body": "done"}
"""


async def in_flight(session: aiohttp.ClientSession, metrics_url: str, function_name: str) -> float:
    async with session.get(metrics_url) as response:
        text = await response.text()
    prefix = f'gateway_function_invocation_inflight{{function_name="{function_name}"}} '
    return next((float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)), 0.0)


async def test_sigterm_drains_in_flight_calls(tmp_path: Path) -> None:
    slow = write_handler(tmp_path / "handlers" / "slow", SLOW_HANDLER)
    gateway = GatewayProcess(tmp_path / "state")
    await gateway.start()
    try:
        async with aiohttp.ClientSession(gateway.url) as session:
            spec = {"service": "slow", "image": "local", "envVars": {"mode": "python", "handler": str(slow)}}
            async with session.post("/system/functions", json=spec) as r:
                assert r.status == 202
            await wait_available(session, "slow", 1)
            call = asyncio.create_task(session.get("/function/slow?s=1.5"))
            metrics = f"http://127.0.0.1:{gateway.metrics_port}/metrics"

            async def calling() -> bool:
                return await in_flight(session, metrics, "slow.openfaas-fn") == 1.0

            await eventually(calling, limit=20, what="the call in flight")
            assert gateway.process is not None
            gateway.process.send_signal(signal.SIGTERM)
            response = await call
            assert (response.status, await response.text()) == (200, "done")
            response.release()
            with pytest.raises(aiohttp.ClientError):  # no longer accepting
                async with session.get("/healthz") as late:
                    await late.read()
    finally:
        assert await gateway.stop() == 0


async def test_shutdown_delay_keeps_serving_calls_while_health_says_going(tmp_path: Path) -> None:
    """``shutdown_delay``: after SIGTERM the gateway answers calls but ``/healthz`` is 503, so a load balancer
    (a Service's endpoints) takes it out before its listener closes; then it exits 0 by itself."""
    gateway = GatewayProcess(tmp_path / "state", env={"shutdown_delay": "3s"})
    await gateway.start()
    try:
        async with aiohttp.ClientSession(gateway.url) as session:
            assert gateway.process is not None
            gateway.process.send_signal(signal.SIGTERM)

            async def going() -> bool:
                async with session.get("/healthz") as health:
                    return health.status == 503 and "shutting down" in (await health.json())["error"]

            await eventually(going, limit=10, what="/healthz answering 503")
            async with session.get("/system/info") as info:  # still serving during the delay
                assert info.status == 200
        process = gateway.process
        await until(lambda: process.poll() is not None, 20, "the gateway to exit after the delay")
        assert process.returncode == 0
    finally:
        await gateway.stop()


async def test_logs_follow_streams_new_lines(gateway: RunningGateway, handlers: dict[str, Path]) -> None:
    async with gateway.session() as session:
        async with session.post(
            "/system/functions", json=version_spec("tail", handlers["version"], "t")
        ) as r:
            assert r.status == 202
        await wait_available(session, "tail", 1)
        async with session.get("/system/logs?name=tail&follow=true&tail=1") as stream:
            assert stream.status == 200
            async with session.post("/function/tail", data=b"marker") as r:
                assert r.status == 200
            deadline = time.monotonic() + 10
            seen = []
            while time.monotonic() < deadline:
                line = await asyncio.wait_for(stream.content.readline(), timeout=10)
                seen.append(json.loads(line))
                if any("POST" in entry["text"] for entry in seen):
                    break
            assert any("POST" in entry["text"] for entry in seen), seen
            assert all(entry["name"] == "tail" for entry in seen)
