"""The gateway's async routes with a real NATS server and the real local provider (functions at zero
replicas: submission only needs the function's record), plus a worker for the dead-letter round trip."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pyfaas.core.models import FunctionDeployment
from pyfaas.gateway.async_calls.routes import ASYNC_QUEUE, AsyncSettings, setup_async
from pyfaas.gateway.keys import PROVIDER
from pyfaas.gateway.middlewares import error_middleware
from pyfaas.provider.local import LocalProvider, LocalProviderConfig
from tests.integration.async_.conftest import Queue, WorkerFactory
from tests.support.async_calls import FakeGateway, eventually, until
from tests.support.nats import NatsServer

ZERO = {"com.openfaas.scale.min": "0"}


async def _provider(tmp_path: Path) -> LocalProvider:
    provider = LocalProvider(LocalProviderConfig(state_dir=tmp_path / "state", use_zygote=False))
    await provider.start()
    for name, notes in (
        ("echo", {"com.openfaas.retry.attempts": "7"}),
        ("down", {"com.openfaas.retry.attempts": "2", "com.openfaas.retry.min_wait": "10ms"}),
    ):
        await provider.deploy(
            FunctionDeployment(service=name, image="local", envProcess="cat", labels=ZERO, annotations=notes)
        )
    return provider


async def _client(provider: LocalProvider, env: dict[str, str]) -> TestClient[web.Request, web.Application]:
    app = web.Application(middlewares=[error_middleware])
    app[PROVIDER] = provider
    setup_async(app, AsyncSettings.from_env(env))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(
    queue: Queue, nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    provider = await _provider(tmp_path)
    client = await _client(provider, {"nats_url": nats_server.url, "async_max_body_bytes": "1000"})
    await asyncio.wait_for(client.app[ASYNC_QUEUE].ready.wait(), 10)
    yield client
    await client.close()
    await provider.close()


async def test_submission_is_stored_before_202(
    client: TestClient[web.Request, web.Application], queue: Queue
) -> None:
    response = await client.post(
        "/async-function/echo/sub/x?q=1",
        data=b"body-1",
        headers={"X-Callback-Url": "http://127.0.0.1:9/cb", "X-Custom": "yes"},
    )
    assert response.status == 202, await response.text()
    call_id = response.headers["X-Call-Id"]
    assert response.headers["X-Start-Time"].isdigit()
    assert await response.read() == b""
    stored = await queue.js.get_msg(
        queue.layout.calls_stream, subject=queue.layout.call_subject("echo", "openfaas-fn")
    )
    wire = json.loads(stored.data or b"")
    assert wire["Function"] == "echo"
    assert wire["Method"] == "POST"
    assert wire["Path"] == "/sub/x"
    assert wire["QueryString"] == "q=1"
    assert base64.b64decode(wire["Body"]) == b"body-1"
    assert wire["Header"]["X-Call-Id"] == [call_id]
    assert wire["Header"]["X-Custom"] == ["yes"]
    assert wire["Annotations"] == {"com.openfaas.retry.attempts": "7"}
    assert wire["CallbackUrl"]["Scheme"] == "http" and wire["CallbackUrl"]["Host"] == "127.0.0.1:9"
    status = await client.get(f"/system/async/{call_id}")
    assert status.status == 200
    record = await status.json()
    assert record["state"] == "queued" and record["callId"] == call_id and record["function"] == "echo"


async def test_namespaced_name_and_client_call_id(
    client: TestClient[web.Request, web.Application], queue: Queue
) -> None:
    response = await client.post(
        "/async-function/echo.openfaas-fn", data=b"x", headers={"X-Call-Id": "mine-1"}
    )
    assert response.status == 202
    assert response.headers["X-Call-Id"] == "mine-1"
    again = await client.post("/async-function/echo.openfaas-fn", data=b"x", headers={"X-Call-Id": "mine-1"})
    assert again.status == 202
    info = await queue.js.stream_info(queue.layout.calls_stream)
    assert info.state.messages == 1  # the call id deduplicates a resubmission


async def test_rejections(client: TestClient[web.Request, web.Application]) -> None:
    missing = await client.post("/async-function/nope", data=b"x")
    assert missing.status == 404
    bad_cb = await client.post("/async-function/echo", data=b"x", headers={"X-Callback-Url": "ftp://host/x"})
    assert bad_cb.status == 400
    assert (await bad_cb.json())["field"] == "X-Callback-Url"
    relative = await client.post(
        "/async-function/echo", data=b"x", headers={"X-Callback-Url": "/just/a/path"}
    )
    assert relative.status == 400
    too_big = await client.post("/async-function/echo", data=b"x" * 1001)
    assert too_big.status == 413
    assert (await too_big.json())["field"] == "body"
    bad_id = await client.post("/async-function/echo", data=b"x", headers={"X-Call-Id": "a.b"})
    assert bad_id.status == 400
    unknown = await client.get("/system/async/does-not-exist")
    assert unknown.status == 404


async def test_nats_down_is_503_never_202(tmp_path: Path) -> None:
    provider = await _provider(tmp_path)
    client = await _client(provider, {"nats_url": "nats://127.0.0.1:1"})
    try:
        response = await client.post("/async-function/echo", data=b"x")
        assert response.status == 503
        assert "Retry-After" in response.headers
        assert "error" in await response.json()
        assert (await client.get("/system/async/abc")).status == 503
    finally:
        await client.close()
        await provider.close()


async def test_nats_stopped_after_start_is_503(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "own-nats")
    (tmp_path / "own-nats").mkdir()
    server.start()
    provider = await _provider(tmp_path)
    client = await _client(provider, {"nats_url": server.url})
    try:
        await asyncio.wait_for(client.app[ASYNC_QUEUE].ready.wait(), 10)
        assert (await client.post("/async-function/echo", data=b"x")).status == 202
        server.kill()
        await until(lambda: not client.app[ASYNC_QUEUE].nc.is_connected, what="disconnect")  # type: ignore[union-attr]
        assert (await client.post("/async-function/echo", data=b"x")).status == 503
    finally:
        server.kill()
        await client.close()
        await provider.close()


async def test_dead_letters_list_inspect_redrive_purge(
    client: TestClient[web.Request, web.Application],
    queue: Queue,
    gateway: FakeGateway,
    start_worker: WorkerFactory,
) -> None:
    await start_worker()
    ids = []
    for _ in range(3):
        response = await client.post("/async-function/down", data=b"payload")
        assert response.status == 202
        ids.append(response.headers["X-Call-Id"])

    async def states() -> list[str]:
        return [(await (await client.get(f"/system/async/{i}")).json())["state"] for i in ids]

    async def all_dead() -> bool:
        return await states() == ["dead-lettered"] * 3

    await eventually(all_dead, what="three dead letters")
    assert all(gateway.calls[i] == 2 for i in ids)  # the function's annotation: 2 attempts

    listing = await (await client.get("/system/async/dead-letters")).json()
    assert listing["count"] == 3
    assert {item["callId"] for item in listing["items"]} == set(ids)
    assert all(item["status"] == 503 and item["attempts"] == 2 for item in listing["items"])
    assert (await (await client.get("/system/async/dead-letters?function=echo")).json())["count"] == 0
    first = await (await client.get("/system/async/dead-letters?limit=1")).json()
    assert first["count"] == 3 and [item["callId"] for item in first["items"]] == [
        listing["items"][0]["callId"]
    ]

    detail = await (await client.get(f"/system/async/dead-letters/{ids[0]}")).json()
    assert detail["request"]["Function"] == "down"
    assert base64.b64decode(detail["request"]["Body"]) == b"payload"

    # redrive: the function now succeeds (the fake gateway's "down" stays down, so watch attempts grow)
    redriven = await client.post(f"/system/async/dead-letters/{ids[0]}/redrive")
    assert redriven.status == 202
    await until(lambda: gateway.calls[ids[0]] == 4, limit=30, what="redriven attempts")

    async def dead_again() -> bool:
        body = await (await client.get(f"/system/async/{ids[0]}")).json()
        return bool(body["state"] == "dead-lettered" and body["attempts"] == 2)

    await eventually(dead_again, what="dead again after the redrive")
    listing = await (await client.get("/system/async/dead-letters")).json()
    assert listing["count"] == 3  # dead again after its two fresh attempts

    assert (await client.delete(f"/system/async/dead-letters/{ids[1]}")).status == 204
    assert (await client.get(f"/system/async/dead-letters/{ids[1]}")).status == 404
    purged = await (await client.delete("/system/async/dead-letters")).json()
    assert purged["purged"] == 2
    assert (await (await client.get("/system/async/dead-letters")).json())["count"] == 0


async def test_default_body_limit_fits_through_the_queue(
    queue: Queue, nats_server: NatsServer, gateway: FakeGateway, start_worker: WorkerFactory, tmp_path: Path
) -> None:
    provider = await _provider(tmp_path)
    client = await _client(provider, {"nats_url": nats_server.url})  # default async_max_body_bytes: 1 MiB
    try:
        await asyncio.wait_for(client.app[ASYNC_QUEUE].ready.wait(), 10)
        body = bytes(range(256)) * 4096  # exactly 1 MiB
        response = await client.post("/async-function/echo", data=body)
        assert response.status == 202, await response.text()
        call_id = response.headers["X-Call-Id"]
        assert (await client.post("/async-function/echo", data=body + b"x")).status == 413
        await start_worker()
        await until(lambda: call_id in gateway.last_request, what="the large call")
        assert gateway.last_request[call_id]["size"] == str(len(body))
    finally:
        await client.close()
        await provider.close()


async def test_message_above_nats_max_payload_is_413_not_503(tmp_path: Path) -> None:
    (tmp_path / "small-nats").mkdir()
    server = NatsServer(tmp_path / "small-nats", max_payload=64 * 1024)
    server.start()
    provider = await _provider(tmp_path)
    client = await _client(provider, {"nats_url": server.url})
    try:
        await asyncio.wait_for(client.app[ASYNC_QUEUE].ready.wait(), 10)
        response = await client.post("/async-function/echo", data=b"x" * 100_000)
        assert response.status == 413
        body = await response.json()
        assert body["field"] == "body" and "max_payload" in body["error"]
    finally:
        server.kill()
        await client.close()
        await provider.close()


async def test_lookup_cache(queue: Queue, nats_server: NatsServer, tmp_path: Path) -> None:
    provider = await _provider(tmp_path)
    cached = await _client(provider, {"nats_url": nats_server.url, "async_lookup_cache": "1h"})
    uncached = await _client(provider, {"nats_url": nats_server.url, "async_lookup_cache": "0"})
    try:
        for client in (cached, uncached):
            await asyncio.wait_for(client.app[ASYNC_QUEUE].ready.wait(), 10)
            assert (await client.post("/async-function/echo", data=b"x")).status == 202
        await provider.delete("echo", "openfaas-fn")
        assert (await uncached.post("/async-function/echo", data=b"x")).status == 404
        assert (await cached.post("/async-function/echo", data=b"x")).status == 202  # remembered
    finally:
        await cached.close()
        await uncached.close()
        await provider.close()


async def test_deleted_stream_is_recreated_after_a_503(
    client: TestClient[web.Request, web.Application], queue: Queue
) -> None:
    await queue.js.delete_stream(queue.layout.calls_stream)
    first = await client.post("/async-function/echo", data=b"x")
    assert first.status == 503  # never a 202 for a call that was not stored

    async def accepted() -> bool:
        return (await client.post("/async-function/echo", data=b"x")).status == 202

    await eventually(accepted, what="the stream re-created")
