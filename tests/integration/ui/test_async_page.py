"""The async page in headless Chromium: a call dead-letters, the page lists it, redrive makes it succeed.

Real parts: nats-server with JetStream, the gateway's async routes, an in-process queue worker that calls the
gateway's ``/function/`` route, and a watchdog replica whose handler fails a set number of times.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from playwright.async_api import expect
from prometheus_client import CollectorRegistry

from pyfaas.core.queue_layout import QueueLayout
from pyfaas.gateway.async_calls.routes import ASYNC_QUEUE, AsyncSettings
from pyfaas.worker.app import Worker
from pyfaas.worker.settings import WorkerSettings
from tests.support.async_calls import reset_layout
from tests.support.browser import chromium, portal, requires_chromium
from tests.support.gateway import CREDENTIALS, RunningGateway, running_gateway, wait_available
from tests.support.nats import NatsServer, nats_server
from tests.support.providers import python_function, write_handler

__all__ = ["nats_server"]

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.timeout(120)]

FLAKY = """
import collections

seen = collections.Counter()


def handle(event, context):
    call_id = event.headers.get("X-Call-Id", "")
    seen[call_id] += 1
    if seen[call_id] <= int(event.query.get("fail", "0")):
        return {"statusCode": 502, "body": f"attempt {seen[call_id]} failed"}
    return {"statusCode": 200, "body": f"done after {seen[call_id]} attempts"}
"""


@pytest.fixture
async def gateway(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[RunningGateway]:
    connection = await nats.connect(nats_server.url)
    try:
        await reset_layout(connection.jetstream(), QueueLayout())
    finally:
        await connection.close()
    settings = AsyncSettings.from_env({"nats_url": nats_server.url})

    async with running_gateway(tmp_path / "state", auth=True, async_settings=settings) as gateway:
        await asyncio.wait_for(gateway.app[ASYNC_QUEUE].ready.wait(), 10)
        async with gateway.session() as session:
            spec = python_function("flaky", write_handler(tmp_path / "flaky", FLAKY))
            async with session.post("/system/functions", json=spec.wire()) as response:
                assert response.status == 202
            await wait_available(session, "flaky", 1)
        yield gateway


@pytest.fixture
async def worker(nats_server: NatsServer, gateway: RunningGateway) -> AsyncIterator[Worker]:
    env = {
        "nats_url": nats_server.url,
        "gateway_url": gateway.url,
        "max_retry_attempts": "2",
        "initial_retry_wait": "50ms",
        "max_retry_wait": "100ms",
        "discovery_interval": "100ms",
        "metrics_port": "0",
        "metrics_host": "127.0.0.1",
        "shutdown_timeout": "5s",
    }
    worker = Worker(WorkerSettings.from_env(env), registry=CollectorRegistry())
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.ready.wait(), 10)
    yield worker
    worker.stop.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 15)


async def test_dead_letters_are_listed_and_a_redrive_succeeds(
    gateway: RunningGateway, worker: Worker
) -> None:
    # fails three times: dead after two attempts; the redrive's two fresh attempts reach the third call
    async with gateway.session() as session, session.post("/async-function/flaky?fail=3", data=b"x") as reply:
        assert reply.status == 202
        call_id = reply.headers["X-Call-Id"]

    async with chromium() as browser, portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        await page.goto("/ui/#/async")
        row = page.locator(f"tr[data-call-id='{call_id}']")
        await page.get_by_role("button", name="Reload").click()
        for _ in range(40):  # the page lists dead letters every 5 s; reload sooner while waiting
            if await row.count():
                break
            await asyncio.sleep(0.25)
            await page.get_by_role("button", name="Reload").click()
        await expect(row).to_contain_text("flaky.openfaas-fn")
        await expect(row).to_contain_text("502")

        await page.get_by_label("Call id").fill(call_id)
        await page.get_by_role("button", name="Look up").click()
        await expect(page.locator("dl.config")).to_contain_text("dead-lettered")

        await page.get_by_role("button", name=f"Redrive {call_id}").click()
        await expect(row).to_have_count(0)
        for _ in range(40):
            await page.get_by_role("button", name="Look up").click()
            if "succeeded" in await page.locator("dl.config").inner_text():
                break
            await asyncio.sleep(0.25)
        await expect(page.locator("dl.config")).to_contain_text("succeeded")
