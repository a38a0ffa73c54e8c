"""The invocation proxy against real HTTP upstreams (the provider is in memory: it is not under test)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiohttp.web
import pytest
from yarl import URL

from pyfaas.core.tracecontext import trace_id_of
from pyfaas.gateway.keys import ROUTER
from tests.support.async_calls import until
from tests.support.gateway import MemoryProvider, RunningGateway, free_port, running_gateway, serve
from tests.unit.gateway.upstream import upstream_app


@pytest.fixture
async def upstreams() -> AsyncIterator[list[str]]:
    async with serve(upstream_app("a")) as first, serve(upstream_app("b")) as second:
        yield [first, second]


@pytest.fixture
async def gateway(tmp_path: Path, upstreams: list[str]) -> AsyncIterator[RunningGateway]:
    provider = MemoryProvider()
    provider.add("echo", upstreams[:1])
    provider.add("pair", upstreams)
    provider.add("other", upstreams[1:], namespace="team-a")
    env = {"upstream_timeout": "1", "max_body_bytes": "2000000", "scale_from_zero_timeout": "1"}
    async with running_gateway(tmp_path, provider=provider, env=env) as running:
        yield running


async def test_path_query_and_body_are_forwarded_raw(gateway: RunningGateway) -> None:
    raw = URL(gateway.url + "/function/echo/a%20b/c?x=1&y=%2F", encoded=True)
    async with aiohttp.ClientSession() as session, session.post(raw, data=b"payload") as response:
        assert response.status == 200
        echoed = await response.json()
    assert echoed["raw_path"] == "/a%20b/c?x=1&y=%2F"
    assert echoed["method"] == "POST"
    assert echoed["body"] == "payload"
    async with gateway.session() as session, session.get("/function/echo?only=query") as response:
        assert (await response.json())["raw_path"] == "/?only=query"
    async with gateway.session() as session, session.get("/function/echo/") as response:
        assert (await response.json())["raw_path"] == "/"


async def test_any_method_reaches_the_function(gateway: RunningGateway) -> None:
    async with gateway.session() as session:
        for method in ("GET", "PUT", "PATCH", "DELETE", "OPTIONS"):
            async with session.request(method, "/function/echo/m") as response:
                assert response.status == 200
                assert (await response.json())["method"] == method


async def test_headers_call_id_and_hop_by_hop(gateway: RunningGateway) -> None:
    headers = {
        "Connection": "keep-alive, X-Private",
        "X-Private": "hop",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "secret",
        "Authorization": "Bearer user-token",
        "X-Custom": "kept",
    }
    session = gateway.session(skip_auto_headers=("Accept-Encoding",))
    async with session, session.post("/function/echo", data=b"x", headers=headers) as response:
        seen = {k.lower(): v for k, v in (await response.json())["headers"].items()}
        call_id = response.headers["X-Call-Id"]
        assert uuid.UUID(call_id).version == 4 and str(uuid.UUID(call_id)) == call_id
        assert response.headers["X-Served-By"].startswith("pyfaas/")
        assert int(response.headers["X-Start-Time"]) > 1_600_000_000 * 10**9
        assert response.headers["X-Upstream"] == "a"
    for dropped in ("x-private", "keep-alive", "proxy-authorization"):
        assert dropped not in seen
    assert seen["authorization"] == "Bearer user-token"
    assert seen["x-custom"] == "kept"
    assert seen["x-call-id"] == call_id
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-host"].startswith("127.0.0.1:")
    assert "x-start-time" in seen
    assert "accept-encoding" not in seen  # the proxy adds nothing the client did not send

    async with (
        gateway.session() as session,
        session.get("/function/echo", headers={"X-Call-Id": "mine", "X-Forwarded-For": "1.2.3.4"}) as r,
    ):
        seen = {k.lower(): v for k, v in (await r.json())["headers"].items()}
        assert "X-Call-Id" not in r.headers  # a caller's own id is passed on, not echoed (as OpenFaaS)
    assert seen["x-call-id"] == "mine"
    assert seen["x-forwarded-for"] == "1.2.3.4"


async def test_response_passes_through_untouched(gateway: RunningGateway) -> None:
    async with gateway.session(auto_decompress=False) as session:
        async with session.get("/function/echo/gzip") as response:
            assert response.headers["Content-Encoding"] == "gzip"
            import gzip

            assert gzip.decompress(await response.read()) == b"compressed payload"
        async with session.get("/function/echo/cookies") as response:
            assert response.headers.getall("Set-Cookie") == ["a=1", "b=2"]
        async with session.get("/function/echo/status/418") as response:
            assert response.status == 418
        async with session.get("/function/echo/big?n=3000000") as response:
            assert len(await response.read()) == 3_000_000


async def test_server_sent_events_stream_unbuffered(gateway: RunningGateway) -> None:
    accept = {"Accept": "text/event-stream"}
    async with gateway.session() as session, session.get("/function/echo/sse", headers=accept) as response:
        # the upstream holds the other events until /open: a buffering proxy would never pass this one
        first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
        async with session.get("/function/echo/open") as opened:
            assert opened.status == 200
        rest = await response.read()
    assert first == b"data: 0\n\n"
    assert rest == b"data: 1\n\ndata: 2\n\n"


async def test_large_streamed_request_body(gateway: RunningGateway) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(15):
            yield b"y" * 100_000

    async with gateway.session() as session, session.post("/function/echo", data=chunks()) as response:
        assert response.status == 200
        assert (await response.json())["length"] == 1_500_000


async def test_body_limit_is_413(gateway: RunningGateway) -> None:
    async with gateway.session() as session:
        async with session.post("/function/echo", data=b"z" * 2_100_000) as response:
            assert response.status == 413
            assert (await response.json())["field"] == "body"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(25):
                yield b"y" * 100_000

        async with session.post("/function/echo", data=chunks()) as response:
            assert response.status == 413


async def test_unknown_function_is_404(gateway: RunningGateway) -> None:
    async with gateway.session() as session, session.get("/function/nope") as response:
        assert response.status == 404
        assert "nope" in (await response.json())["error"]


async def test_namespaced_name(gateway: RunningGateway) -> None:
    async with gateway.session() as session:
        async with session.get("/function/other.team-a/x") as response:
            assert response.status == 200
            assert (await response.json())["label"] == "b"
        async with session.get("/function/other") as response:
            assert response.status == 404  # not in the default namespace


async def test_upstream_down_is_502_fast(tmp_path: Path) -> None:
    provider = MemoryProvider()
    provider.add("dead", [f"http://127.0.0.1:{free_port()}"])
    async with running_gateway(tmp_path, provider=provider, env={"upstream_timeout": "5"}) as gateway:
        async with gateway.session() as session, session.get("/function/dead") as response:
            assert response.status == 502  # refused at once: not the 504 of the 5 s upstream_timeout
        assert (
            gateway.metric("gateway_function_invocation_total", function_name="dead.openfaas-fn", code="502")
            == 1
        )


async def test_upstream_timeout_is_504_naming_the_function_not_a_hang(gateway: RunningGateway) -> None:
    # A 200 would come after 5 s: the 504 shows the call was cut at the function's timeout.
    async with gateway.session() as session, session.get("/function/echo/sleep?s=5") as response:
        assert response.status == 504
        assert await response.json() == {
            "error": "function echo.openfaas-fn did not answer within its timeout of 1s",
            "function": "echo.openfaas-fn",
            "timeout": "1s",
        }
        assert response.headers["X-Pyfaas-Timeout"] == "1s"


async def test_least_in_flight_balancing(gateway: RunningGateway) -> None:
    async with gateway.session() as session:

        async def call() -> str:
            async with session.get("/function/pair/sleep?s=0.3") as response:
                return await response.text()

        answers = await asyncio.gather(*(call() for _ in range(6)))
    assert sorted(answers) == ["a slept"] * 3 + ["b slept"] * 3


async def test_failed_connection_is_retried_on_another_replica(tmp_path: Path, upstreams: list[str]) -> None:
    provider = MemoryProvider()
    dead = f"http://127.0.0.1:{free_port()}"
    provider.add("flaky", [dead, upstreams[0]])
    async with running_gateway(tmp_path, provider=provider) as gateway, gateway.session() as session:
        for _ in range(4):
            async with session.post("/function/flaky", data=b"again") as response:
                assert response.status == 200
                assert (await response.json())["body"] == "again"


async def test_invocation_metrics(gateway: RunningGateway) -> None:
    async with gateway.session() as session:
        for _ in range(3):
            async with session.get("/function/echo") as response:
                assert response.status == 200
        async with session.get("/function/echo/status/500") as response:
            assert response.status == 500
        async with session.get("/system/functions") as response:
            listed = {item["name"]: item for item in await response.json()}
    labels = {"function_name": "echo.openfaas-fn"}
    assert gateway.metric("gateway_function_invocation_total", code="200", **labels) == 3
    assert gateway.metric("gateway_function_invocation_total", code="500", **labels) == 1
    assert gateway.metric("gateway_function_invocation_started", **labels) == 4
    assert gateway.metric("gateway_functions_seconds_count", code="200", **labels) == 3
    assert gateway.metric("gateway_function_invocation_inflight", **labels) == 0
    assert listed["echo"]["invocationCount"] == 4


async def test_inflight_gauge_counts_running_calls(gateway: RunningGateway) -> None:
    async with gateway.session() as session:
        task = asyncio.create_task(session.get("/function/echo/sleep?s=0.5"))
        labels = {"function_name": "echo.openfaas-fn"}
        await until(lambda: gateway.metric("gateway_function_invocation_inflight", **labels) == 1, 5, "gauge")
        assert not task.done()  # counted while it runs, not after
        response = await task
        response.release()
    assert gateway.metric("gateway_function_invocation_inflight", function_name="echo.openfaas-fn") == 0


async def test_client_disconnect_mid_stream_releases_in_flight(gateway: RunningGateway) -> None:
    route = None
    async with gateway.session() as session, session.get("/function/echo/sse") as response:
        await response.content.readuntil(b"\n\n")
        # the response is closed while the upstream still holds its stream open (until /open)
    route = gateway.app[ROUTER].known("echo", "openfaas-fn")
    assert route is not None
    await until(lambda: all(replica.in_flight == 0 for replica in route.replicas), 5, "the slot released")
    async with gateway.session() as session, session.get("/function/echo/open") as opened:
        assert opened.status == 200  # the upstream's handler ends too


async def test_head_and_no_content(gateway: RunningGateway) -> None:
    async with gateway.session() as session:
        async with session.head("/function/echo/big?n=1234") as response:
            assert response.status == 200
            assert response.headers["Content-Length"] == "1234"
            assert await response.read() == b""
        async with session.get("/function/echo/status/204") as response:
            assert response.status == 204
            assert await response.read() == b""
        async with session.get("/function/echo") as response:  # the pooled connection is still usable
            assert response.status == 200


async def test_upstream_closing_idle_connections_is_invisible(tmp_path: Path) -> None:
    """An upstream that drops idle keep-alive connections quickly: pooled sockets die between calls."""
    runner = aiohttp.web.AppRunner(upstream_app("k"), keepalive_timeout=0.05, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        provider = MemoryProvider()
        provider.add("keep", [f"http://127.0.0.1:{runner.addresses[0][1]}"])
        async with running_gateway(tmp_path, provider=provider) as gateway, gateway.session() as session:
            for _ in range(5):
                async with session.post("/function/keep", data=b"again") as response:
                    assert response.status == 200
                    assert (await response.json())["body"] == "again"
                await asyncio.sleep(0.15)  # idle past the upstream's 50 ms keep-alive: the pooled socket dies
    finally:
        await runner.cleanup()


async def test_upstream_answering_connection_close(tmp_path: Path) -> None:
    async def closing(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text="bye", headers={"Connection": "close"})

    app = aiohttp.web.Application()
    app.router.add_get("/{tail:.*}", closing)
    async with serve(app) as url:
        provider = MemoryProvider()
        provider.add("closer", [url])
        async with running_gateway(tmp_path, provider=provider) as gateway, gateway.session() as session:
            for _ in range(3):
                async with session.get("/function/closer") as response:
                    assert (response.status, await response.text()) == (200, "bye")


async def test_idle_pool_forgets_replicas_that_are_gone(tmp_path: Path) -> None:
    from pyfaas.gateway.invocation.upstream import Endpoint, UpstreamClient, endpoint_of

    client = UpstreamClient(connect_timeout=2.0, sweep_every=1)  # every release sweeps

    async def call(endpoint: Endpoint) -> None:
        response = await client.request(endpoint, "GET", "/echo", [], None)
        assert response.status == 200
        await response.read()
        response.release()

    try:
        async with serve(upstream_app("live")) as live_url:
            live = endpoint_of(live_url)
            assert live is not None
            async with serve(upstream_app("gone")) as url:
                gone = endpoint_of(url)
                assert gone is not None
                await call(gone)
                assert client.pooled() == {gone: 1}
            await until(lambda: client.pooled() == {gone: 0}, limit=10, what="the gone replica's close")
            await call(live)  # its release sweeps the pool
            assert client.pooled() == {live: 1}
    finally:
        await client.close()


async def test_trace_context_is_forwarded_or_created(gateway: RunningGateway) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with gateway.session() as session:
        sent = {"traceparent": traceparent, "tracestate": "vendor=1"}
        async with session.get("/function/echo/echo", headers=sent) as response:
            seen = (await response.json())["headers"]
        assert seen["traceparent"] == traceparent and seen["tracestate"] == "vendor=1"
        created: list[str] = []
        for headers in ({}, {"traceparent": "00-not-a-trace"}):
            async with session.get("/function/echo/echo", headers=headers) as response:
                forwarded = [
                    v for k, v in (await response.json())["headers"].items() if k.lower() == "traceparent"
                ]
            assert len(forwarded) == 1 and trace_id_of(forwarded[0]) is not None
            created.append(forwarded[0])
    assert created[0] != created[1]
