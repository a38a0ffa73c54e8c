"""Async calls of a private function: checked at submission, the worker's later call through the real gateway
passes with the gateway's own token, and neither credential reaches the function nor the callback."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from pyfaas.gateway.async_calls.routes import AsyncSettings
from tests.integration.async_.conftest import Queue, WorkerFactory
from tests.support.async_calls import CallbackReceiver, until
from tests.support.gateway import running_gateway, wait_available
from tests.support.nats import NatsServer

pytestmark = pytest.mark.timeout(120)

HEADERS = """
import json

def handle(event, context):
    return {"statusCode": 200, "body": json.dumps(dict(event.headers))}
"""


async def test_private_async_call_is_checked_at_submission_and_run_by_the_worker(
    tmp_path: Path,
    nats_server: NatsServer,
    queue: Queue,
    start_worker: WorkerFactory,
    receiver: CallbackReceiver,
) -> None:
    handler = tmp_path / "fn"
    handler.mkdir()
    (handler / "handler.py").write_text(HEADERS)
    settings = AsyncSettings.from_env({"nats_url": nats_server.url})
    async with (
        running_gateway(tmp_path / "state", auth=True, async_settings=settings) as gw,
        gw.session() as admin,
    ):
        spec = {
            "service": "private-fn",
            "image": "local",
            "envVars": {"mode": "python", "handler": str(handler)},
            "annotations": {"com.pyfaas.private": "true"},
        }
        async with admin.post("/system/functions", json=spec) as r:
            assert r.status == 202
        await wait_available(admin, "private-fn", 1)
        async with admin.post("/system/function-keys/private-fn") as r:
            key = (await r.json())["key"]

        async with aiohttp.ClientSession(gw.url) as anyone:
            async with anyone.post("/async-function/private-fn", data=b"x") as r:
                assert r.status == 401  # refused at submission: nothing is queued
            async with anyone.post(
                "/async-function/private-fn",
                data=b"hello",
                headers={"Authorization": f"Bearer {key}", "X-Callback-Url": receiver.url},
            ) as r:
                assert r.status == 202, await r.text()
                call_id = r.headers["X-Call-Id"]
        subject = queue.layout.call_subject("private-fn", "openfaas-fn")
        stored = await queue.js.get_last_msg(queue.layout.calls_stream, subject)
        assert key.encode() not in (stored.data or b"")  # the user's key is not queued
        assert b"Bearer ey" in (stored.data or b"")  # the gateway's token for this function is
        await start_worker(gateway_url=gw.url)

        await until(lambda: receiver.delivered(call_id) >= 1, 60, "the callback of the private call")
        [(callback_headers, body)] = receiver.received[call_id]
        assert callback_headers.get("X-Function-Status") == "200", (callback_headers, body)
        seen = json.loads(body)
        assert "Authorization" not in seen and key not in body.decode()
        assert "Authorization" not in callback_headers
