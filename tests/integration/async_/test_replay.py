"""The gateway's async call ledger through the real gateway, NATS and a python-mode watchdog replica: a
worker's repeated ``/function`` request for a call this gateway issued gets the first answer (the function
runs once); anything else runs normally."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from pyfaas.gateway.async_calls.routes import ASYNC_QUEUE, AsyncSettings
from tests.support.gateway import RunningGateway, running_gateway, wait_available
from tests.support.nats import NatsServer
from tests.support.providers import python_function, write_handler

pytestmark = pytest.mark.timeout(90)

HANDLER = """
import os
import time


def handle(event, context):
    with open(os.environ["EXECUTION_LOG"], "a") as log:
        log.write(event.headers.get("X-Call-Id", "?") + "\\n")
    body = event.body.decode()
    if body == "slow":
        time.sleep(0.5)  # a call still running when the replay arrives
    if body == "fail":
        return {"statusCode": 503, "body": "try again"}
    return {"statusCode": 200, "body": "ran " + body, "headers": {"X-Run": str(time.monotonic_ns())}}
"""


class Stack:
    def __init__(self, gateway: RunningGateway, session: aiohttp.ClientSession, log: Path) -> None:
        self.gateway = gateway
        self.session = session
        self.log = log

    def runs(self) -> Counter[str]:
        if not self.log.exists():
            return Counter()
        return Counter(line for line in self.log.read_text().splitlines() if line)

    async def submit(self, body: bytes, headers: dict[str, str] | None = None) -> str:
        async with self.session.post("/async-function/echo", data=body, headers=headers) as response:
            assert response.status == 202, await response.text()
            return response.headers["X-Call-Id"]

    async def as_worker(
        self, call_id: str, body: bytes, attempt: int = 1, function: str = "echo"
    ) -> tuple[int, bytes, dict[str, str]]:
        headers = {"X-Call-Id": call_id, "X-Pyfaas-Attempt": str(attempt)}
        async with self.session.post(f"/function/{function}", data=body, headers=headers) as response:
            return response.status, await response.read(), dict(response.headers)


@pytest.fixture
async def stack(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Stack]:
    settings = AsyncSettings.from_env({"nats_url": nats_server.url})

    log = tmp_path / "executions.log"
    async with running_gateway(tmp_path / "state", async_settings=settings) as gateway:
        await asyncio.wait_for(gateway.app[ASYNC_QUEUE].ready.wait(), 10)
        async with gateway.session() as session:
            handler = write_handler(tmp_path / "handler", HANDLER)
            for name in ("echo", "other"):
                spec = python_function(name, handler, envVars={"EXECUTION_LOG": str(log)})
                async with session.post("/system/functions", json=spec.wire()) as response:
                    assert response.status in (200, 202), await response.text()
                await wait_available(session, name, 1)
            yield Stack(gateway, session, log)


async def test_a_repeated_delivery_gets_the_first_answer_without_running_again(stack: Stack) -> None:
    call_id = await stack.submit(b"hello")
    first = await stack.as_worker(call_id, b"hello", attempt=1)
    again = await stack.as_worker(call_id, b"hello", attempt=2)
    assert first[0] == again[0] == 200
    assert first[1] == again[1] == b"ran hello"
    assert first[2]["X-Run"] == again[2]["X-Run"]  # the same answer, not a second run
    assert "X-Pyfaas-Replayed" not in first[2]
    assert again[2]["X-Pyfaas-Replayed"] == "true"
    assert stack.runs()[call_id] == 1
    assert stack.gateway.metric("gateway_async_replays_total") == 1


async def test_concurrent_deliveries_run_once(stack: Stack) -> None:
    call_id = await stack.submit(b"slow")
    answers = await asyncio.gather(*(stack.as_worker(call_id, b"slow", attempt) for attempt in (1, 2, 3)))
    assert [answer[1] for answer in answers] == [b"ran slow"] * 3
    assert sorted(answer[2].get("X-Pyfaas-Replayed", "") for answer in answers) == ["", "true", "true"]
    assert stack.runs()[call_id] == 1


async def test_ids_not_issued_here_and_retryable_answers_run_every_time(stack: Stack) -> None:
    made_up = "00000000-0000-4000-8000-000000000000"
    client_chosen = await stack.submit(b"mine", headers={"X-Call-Id": "client-chosen-id"})
    failing = await stack.submit(b"fail")
    other_function = await stack.submit(b"x")
    for call_id, body, function in (
        (made_up, b"x", "echo"),
        (client_chosen, b"mine", "echo"),
        (failing, b"fail", "echo"),
        (other_function, b"x", "other"),  # issued for echo: not eligible on another function
    ):
        for attempt in (1, 2):
            status, _, headers = await stack.as_worker(call_id, body, attempt, function=function)
            assert "X-Pyfaas-Replayed" not in headers
            assert status == (503 if body == b"fail" else 200)
        assert stack.runs()[call_id] == 2, call_id
    assert stack.gateway.metric("gateway_async_replays_total") == 0
