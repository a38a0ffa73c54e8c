"""End to end: gateway (real app, local provider) → JetStream → worker → gateway → real watchdog replica of a
python-mode function → callback receiver. Retries are driven by the function's own answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from pyfaas.gateway.async_calls.routes import ASYNC_QUEUE, AsyncSettings
from tests.integration.async_.conftest import Queue, WorkerFactory
from tests.support.async_calls import CallbackReceiver, eventually, until
from tests.support.gateway import RunningGateway, running_gateway, wait_available
from tests.support.nats import NatsServer
from tests.support.providers import python_function, write_handler

pytestmark = pytest.mark.timeout(120)

HANDLER = """
import collections

seen = collections.Counter()


def handle(event, context):
    call_id = event.headers.get("X-Call-Id", "")
    seen[call_id] += 1
    fail = int(event.query.get("fail", "0"))
    if seen[call_id] <= fail:
        return {"statusCode": int(event.query.get("code", "503")), "body": f"attempt {seen[call_id]}"}
    return {
        "statusCode": 200,
        "body": {"attempt": seen[call_id], "path": event.path, "body": event.body.decode()},
        "headers": {"X-Handled-By": "flaky"},
    }
"""


@dataclass
class Stack:
    gateway: RunningGateway
    session: aiohttp.ClientSession


@pytest.fixture
async def stack(queue: Queue, nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Stack]:
    handler = write_handler(tmp_path / "flaky", HANDLER)
    settings = AsyncSettings.from_env({"nats_url": nats_server.url})

    async with running_gateway(tmp_path / "state", async_settings=settings) as gateway:
        await asyncio.wait_for(gateway.app[ASYNC_QUEUE].ready.wait(), 10)
        async with gateway.session() as session:
            deploy = python_function(
                "flaky",
                handler,
                annotations={"com.openfaas.retry.min_wait": "20ms", "com.openfaas.retry.max_wait": "100ms"},
            )
            response = await session.post("/system/functions", json=deploy.wire())
            assert response.status in (200, 202), await response.text()
            await wait_available(session, "flaky", 1)
            yield Stack(gateway, session)


async def _state(session: aiohttp.ClientSession, call_id: str) -> dict[str, object]:
    async with session.get(f"/system/async/{call_id}") as response:
        assert response.status == 200
        return dict(await response.json())


async def test_async_call_end_to_end_with_retries_and_callback(
    stack: Stack, receiver: CallbackReceiver, start_worker: WorkerFactory
) -> None:
    await start_worker(gateway_url=stack.gateway.url)
    session = stack.session
    submitted: dict[str, str] = {}
    for label, query in (("plain", ""), ("429", "?fail=2&code=429"), ("503", "?fail=1&code=503")):
        async with session.post(
            f"/async-function/flaky/sub/path{query}",
            data=f"body-{label}".encode(),
            headers={"X-Callback-Url": receiver.url},
        ) as response:
            assert response.status == 202, await response.text()
            submitted[label] = response.headers["X-Call-Id"]

    await until(
        lambda: all(receiver.delivered(c) == 1 for c in submitted.values()), limit=30, what="callbacks"
    )
    expected_attempts = {"plain": 1, "429": 3, "503": 2}
    for label, call_id in submitted.items():
        headers, body = receiver.received[call_id][-1]
        assert headers["X-Function-Status"] == "200"
        assert headers["X-Function-Name"] == "flaky"
        assert headers["X-Call-Id"] == call_id
        assert headers["X-Function-Attempts"] == str(expected_attempts[label])
        assert headers["X-Handled-By"] == "flaky"
        assert float(headers["X-Duration-Seconds"]) > 0
        answer = json.loads(body)
        assert answer["attempt"] == expected_attempts[label]
        assert answer["body"] == f"body-{label}"
        assert answer["path"] == "/sub/path"
        record = await _state(session, call_id)
        assert record["state"] == "succeeded"
        assert record["attempts"] == expected_attempts[label]
        assert record["lastStatus"] == 200


async def test_dead_letter_end_to_end_then_redrive_succeeds(
    stack: Stack, receiver: CallbackReceiver, start_worker: WorkerFactory
) -> None:
    await start_worker(gateway_url=stack.gateway.url, max_retry_attempts="2")
    session = stack.session
    # fails 3 times: dead after 2 attempts; a redrive gets 2 fresh attempts and the 3rd call succeeds
    async with session.post("/async-function/flaky?fail=3&code=502", data=b"x") as response:
        assert response.status == 202
        call_id = response.headers["X-Call-Id"]

    async def dead() -> bool:
        return (await _state(session, call_id))["state"] == "dead-lettered"

    await eventually(dead, what="dead letter")
    record = await _state(session, call_id)
    assert record["state"] == "dead-lettered" and record["attempts"] == 2 and record["lastStatus"] == 502
    async with session.get("/system/async/dead-letters") as response:
        listing = await response.json()
    assert [item["callId"] for item in listing["items"]] == [call_id]
    async with session.post(f"/system/async/dead-letters/{call_id}/redrive") as response:
        assert response.status == 202

    async def succeeded() -> bool:
        return (await _state(session, call_id))["state"] == "succeeded"

    await eventually(succeeded, what="success after the redrive")
    record = await _state(session, call_id)
    assert record["state"] == "succeeded" and record["attempts"] == 2
    async with session.get("/system/async/dead-letters") as response:
        assert (await response.json())["count"] == 0


async def test_unknown_function_is_404_at_submission(stack: Stack) -> None:
    async with stack.session.post("/async-function/missing", data=b"x") as response:
        assert response.status == 404


async def test_async_system_routes_need_auth(queue: Queue, nats_server: NatsServer, tmp_path: Path) -> None:
    settings = AsyncSettings.from_env({"nats_url": nats_server.url})

    async with running_gateway(tmp_path / "state", auth=True, async_settings=settings) as gateway:
        await asyncio.wait_for(gateway.app[ASYNC_QUEUE].ready.wait(), 10)
        async with aiohttp.ClientSession(gateway.url) as anonymous:
            for method, path in (
                ("GET", "/system/async/some-call"),
                ("GET", "/system/async/dead-letters"),
                ("POST", "/system/async/dead-letters/some-call/redrive"),
                ("DELETE", "/system/async/dead-letters"),
            ):
                async with anonymous.request(method, path) as response:
                    assert response.status == 401, path
            async with anonymous.post("/async-function/missing", data=b"x") as response:
                assert response.status == 404  # submission is open, as /function/ is
        async with gateway.session() as session, session.get("/system/async/some-call") as response:
            assert response.status == 404


async def test_gateway_process_registers_async_routes_when_nats_is_configured(
    queue: Queue, nats_server: NatsServer, tmp_path: Path
) -> None:
    from tests.support.gateway import GatewayProcess

    process = GatewayProcess(tmp_path / "gw", env={"nats_url": nats_server.url})
    await process.start()
    try:
        async with aiohttp.ClientSession(process.url) as session:
            spec = {
                "service": "zero",
                "image": "local",
                "envProcess": "cat",
                "labels": {"com.openfaas.scale.min": "0"},
            }
            async with session.post("/system/functions", json=spec) as response:
                assert response.status in (200, 202), await response.text()

            async def accepted() -> bool:
                async with session.post("/async-function/zero", data=b"x") as response:
                    return response.status == 202

            await eventually(accepted, what="202 from the gateway process")
    finally:
        assert await process.stop() == 0
