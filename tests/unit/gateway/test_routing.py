"""Scale from zero and the ready-set cache, with an in-memory provider and real upstream servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyfaas.provider.base import Replica
from tests.support.gateway import MemoryProvider, running_gateway, serve
from tests.unit.gateway.upstream import upstream_app


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    async with serve(upstream_app("z")) as url:
        yield url


async def test_concurrent_first_calls_share_one_scale_up(tmp_path: Path, upstream: str) -> None:
    provider = MemoryProvider()
    provider.add("cold", [], labels={"com.openfaas.scale.min": "2"})
    provider.functions[("cold", "openfaas-fn")].desired = 0
    loop = asyncio.get_running_loop()

    def on_scale(name: str, namespace: str, replicas: int) -> None:
        # The replica becomes ready a little later, as a real one would.
        loop.call_later(0.3, lambda: provider.set_ready(name, [upstream], namespace=namespace))

    provider.on_scale = on_scale
    async with running_gateway(tmp_path, provider=provider) as gateway, gateway.session() as session:

        async def call() -> int:
            async with session.post("/function/cold", data=b"hi") as response:
                await response.read()
                return response.status

        statuses = await asyncio.gather(*(call() for _ in range(20)))
        assert statuses == [200] * 20
        assert provider.scale_calls == [("cold", "openfaas-fn", 2)]  # max(1, scale.min), once
        assert provider.get_calls == 1
        count = gateway.metric("gateway_function_cold_start_seconds_count", function_name="cold.openfaas-fn")
        assert count == 1
        assert (
            gateway.metric("gateway_function_cold_start_seconds_sum", function_name="cold.openfaas-fn")
            >= 0.25
        )


async def test_no_ready_replica_in_time_is_503_with_retry_after(tmp_path: Path) -> None:
    provider = MemoryProvider()
    provider.add("stuck", [])
    provider.functions[("stuck", "openfaas-fn")].desired = 0
    env = {"scale_from_zero_timeout": "500ms"}
    # never ready: only scale_from_zero_timeout can answer
    async with (
        running_gateway(tmp_path, provider=provider, env=env) as gateway,
        gateway.session() as session,
        session.get("/function/stuck") as response,
    ):
        assert response.status == 503
        assert int(response.headers["Retry-After"]) >= 1
        assert "stuck" in (await response.json())["error"]
    assert provider.scale_calls == [("stuck", "openfaas-fn", 1)]


async def test_scale_from_zero_disabled_is_503_without_scaling(tmp_path: Path) -> None:
    provider = MemoryProvider()
    provider.add("zero", [])
    provider.functions[("zero", "openfaas-fn")].desired = 0
    env = {"scale_from_zero": "false"}
    gateway = running_gateway(tmp_path, provider=provider, env=env)
    async with gateway as running, running.session() as session, session.get("/function/zero") as response:
        assert response.status == 503
    assert provider.scale_calls == []


async def test_never_sends_to_a_replica_that_is_not_ready(tmp_path: Path, upstream: str) -> None:
    provider = MemoryProvider()
    provider.add("half", [upstream, "http://127.0.0.1:9"])
    function = provider.functions[("half", "openfaas-fn")]
    function.replicas[1].ready = False
    provider.set_ready("half", [upstream, "http://127.0.0.1:9"])
    async with running_gateway(tmp_path, provider=provider) as gateway, gateway.session() as session:
        for _ in range(6):
            async with session.get("/function/half") as response:
                assert response.status == 200


async def test_ready_set_follows_subscription_without_provider_calls(tmp_path: Path, upstream: str) -> None:
    provider = MemoryProvider()
    provider.add("live", [upstream])
    calls = 0
    original = provider.ready_replicas

    async def counting(name: str, namespace: str) -> list[Replica]:
        nonlocal calls
        calls += 1
        return await original(name, namespace)

    provider.ready_replicas = counting  # type: ignore[method-assign]
    async with running_gateway(tmp_path, provider=provider) as gateway, gateway.session() as session:
        for _ in range(5):
            async with session.get("/function/live") as response:
                assert response.status == 200
        provider.set_ready("live", [])
        provider.functions[("live", "openfaas-fn")].desired = 1
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, provider.set_ready, "live", [upstream])
        async with session.get("/function/live") as response:  # waits for the subscription, no polling
            assert response.status == 200
    assert calls == 1
    assert provider.scale_calls == []


async def test_deleted_function_is_404(tmp_path: Path, upstream: str) -> None:
    provider = MemoryProvider()
    provider.add("gone", [upstream])
    async with running_gateway(tmp_path, provider=provider) as gateway, gateway.session() as session:
        async with session.get("/function/gone") as response:
            assert response.status == 200
        await provider.delete("gone", "openfaas-fn")
        async with session.get("/function/gone") as response:
            assert response.status == 404
