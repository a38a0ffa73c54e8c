"""RemoteProvider specifics against real HTTP peers: error mapping, auth, replica URL and availability."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from pyfaas.core.errors import FunctionNotFound, ProviderError, PyfaasError, ValidationFailed
from pyfaas.provider.base import Replica
from pyfaas.provider.local import LocalProvider
from pyfaas.provider.remote import RemoteProvider
from tests.integration.provider.helpers import eventually, invoke
from tests.support.providers import (
    faas_provider_app,
    fork_function,
    local_provider,
    python_function,
    serve_app,
    write_handler,
)

NS = "openfaas-fn"
AUTH = ("admin", "pw")


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[tuple[LocalProvider, str]]:
    async with (
        local_provider(tmp_path / "state") as local,
        serve_app(faas_provider_app(local, credentials=AUTH)) as url,
    ):
        yield local, url


@pytest.fixture
async def remote(backend: tuple[LocalProvider, str]) -> AsyncIterator[RemoteProvider]:
    provider = RemoteProvider(backend[1], credentials=AUTH, status_ttl=0.05)
    await provider.start()
    yield provider
    await provider.close()


async def test_wrong_credentials_are_a_provider_error(backend: tuple[LocalProvider, str]) -> None:
    provider = RemoteProvider(backend[1], credentials=("admin", "wrong"))
    await provider.start()
    try:
        with pytest.raises(ProviderError, match="401"):
            await provider.list_functions(NS)
    finally:
        await provider.close()


async def test_unreachable_provider_raises_provider_error_not_httpx() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = RemoteProvider(f"http://127.0.0.1:{port}", timeout=2)
    await provider.start()
    try:
        with pytest.raises(ProviderError) as raised:
            await provider.health()
        assert isinstance(raised.value, PyfaasError)
    finally:
        await provider.close()


async def test_validation_error_keeps_the_field(remote: RemoteProvider) -> None:
    with pytest.raises(ValidationFailed) as raised:
        await remote.deploy(fork_function("Bad_Name", "cat"))
    assert raised.value.field == "service"


async def test_replica_is_the_function_proxy_and_follows_availability(
    remote: RemoteProvider, tmp_path: Path
) -> None:
    changes: list[list[Replica]] = []
    remote.subscribe(lambda name, namespace, replicas: changes.append(replicas))
    handler = write_handler(tmp_path / "echo", "def handle(event, context):\n    return event.path\n")
    await remote.deploy(python_function("echo", handler))

    [replica] = await eventually(lambda: remote.ready_replicas("echo", NS), lambda rs: len(rs) == 1)
    assert replica.url == f"{remote.base_url}/function/echo.{NS}"
    assert (await invoke(replica, path="/sub/path")).text == "/sub/path"
    assert changes[-1] == [replica]

    await remote.scale("echo", NS, 0)
    await eventually(lambda: remote.ready_replicas("echo", NS), lambda rs: rs == [])
    await remote.scale("echo", NS, 1)  # a poller watches the status until a replica is available
    await eventually(lambda: _last(changes), lambda last: last == [replica], within=30)
    assert await remote.ready_replicas("echo", NS) == [replica]  # the same object: in_flight survives

    await remote.delete("echo", NS)
    assert changes[-1] == []
    with pytest.raises(FunctionNotFound):
        await remote.ready_replicas("echo", NS)


async def _last(changes: list[list[Replica]]) -> list[Replica] | None:
    return changes[-1] if changes else None


async def test_concurrent_lookups_share_one_status_request(
    backend: tuple[LocalProvider, str], remote: RemoteProvider
) -> None:
    await remote.deploy(fork_function("cat", "cat"))
    await eventually(lambda: remote.ready_replicas("cat", NS), lambda rs: len(rs) == 1)
    calls = 0
    original = backend[0].get_function

    async def counting(name: str, namespace: str):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return await original(name, namespace)

    backend[0].get_function = counting  # type: ignore[method-assign]
    fresh = RemoteProvider(backend[1], credentials=AUTH)  # nothing cached yet: every lookup needs the status
    await fresh.start()
    try:
        results = await asyncio.gather(*(fresh.ready_replicas("cat", NS) for _ in range(20)))
    finally:
        await fresh.close()
    assert all(len(r) == 1 for r in results)
    assert calls == 1


async def test_gateway_info_and_missing_namespace_support() -> None:
    async def info(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "provider": {
                    "provider": "faas-netes-ce",
                    "orchestration": "kubernetes",
                    "version": {"sha": "x"},
                },
                "version": {"sha": "y", "release": "0.1"},
                "arch": "amd64",
            }
        )

    async def not_implemented(request: web.Request) -> web.Response:
        return web.Response(status=501, text="Feature not implemented in this version of OpenFaaS")

    app = web.Application()
    app.router.add_get("/system/info", info)
    app.router.add_route("*", "/system/namespace/{name}", not_implemented)
    async with serve_app(app) as url:
        provider = RemoteProvider(url)
        await provider.start()
        try:
            assert (await provider.info()).orchestration == "kubernetes"
            with pytest.raises(ProviderError, match="501"):
                await provider.delete_namespace("dev")
        finally:
            await provider.close()
