"""One set of request body limits (pyfaas.core.limits) on the real gateway, LocalProvider and watchdog
processes: the function side accepts what the gateway accepts, a function's own lower limit is answered as
the gateway's JSON 413, and the async limit cannot exceed the sync one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from pyfaas.core.errors import ConfigError
from pyfaas.gateway.app import create_app
from pyfaas.gateway.async_calls.routes import AsyncSettings
from pyfaas.gateway.settings import GatewaySettings
from tests.support.gateway import MemoryProvider, RunningGateway, running_gateway, wait_available
from tests.support.providers import write_handler

pytestmark = pytest.mark.timeout(120)

LENGTH = """
def handle(event, context):
    return str(len(event.body))
"""


def spec(name: str, handler: Path, **env: str) -> dict[str, object]:
    return {
        "service": name,
        "image": "local",
        "envVars": {"mode": "python", "handler": str(handler), **env},
    }


async def chunks(size: int, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        yield b"x" * min(piece, size - sent)
        sent += piece


async def deploy(gateway: RunningGateway, name: str, handler: Path, **env: str) -> None:
    async with gateway.session() as session:
        async with session.post("/system/functions", json=spec(name, handler, **env)) as response:
            assert response.status == 202, await response.text()
        await wait_available(session, name, 1)


async def test_a_body_the_gateway_accepts_by_default_reaches_the_function(tmp_path: Path) -> None:
    size = 30 * 1000 * 1000  # the walkthrough's 30 MB: under the one default of 32 MiB
    async with running_gateway(tmp_path / "state") as gateway:
        await deploy(gateway, "size", write_handler(tmp_path / "size", LENGTH))
        async with gateway.session() as session, session.post("/function/size", data=b"x" * size) as response:
            assert response.status == 200, await response.text()
            assert await response.text() == str(size)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_functions_own_lower_limit_is_the_gateways_json_413(tmp_path: Path, chunked: bool) -> None:
    async with running_gateway(tmp_path / "state") as gateway:
        await deploy(gateway, "small", write_handler(tmp_path / "small", LENGTH), max_body_bytes="100000")
        async with gateway.session() as session:
            body = chunks(200_000) if chunked else b"x" * 200_000
            async with session.post("/function/small", data=body) as response:
                assert response.status == 413
                assert response.content_type == "application/json"
                assert await response.json() == {
                    "error": "request body exceeds the function's max_body_bytes=100000",
                    "field": "body",
                }
            async with session.post("/function/small", data=b"x" * 99_000) as response:
                assert response.status == 200 and await response.text() == "99000"


async def test_a_handlers_own_413_is_relayed_unchanged(tmp_path: Path) -> None:
    handler = write_handler(
        tmp_path / "own",
        """
def handle(event, context):
    return {"statusCode": 413, "body": "my own limit"}
""",
    )
    async with running_gateway(tmp_path / "state") as gateway:
        await deploy(gateway, "own", handler)
        async with gateway.session() as session, session.post("/function/own", data=b"x") as response:
            assert response.status == 413 and await response.text() == "my own limit"


def test_the_async_limit_may_not_exceed_the_sync_limit() -> None:
    settings = GatewaySettings.from_env({"max_body_bytes": "1000"})
    too_big = AsyncSettings.from_env({"async_max_body_bytes": "2000"})
    with pytest.raises(ConfigError) as caught:
        create_app(
            settings,
            MemoryProvider(),
            registry=CollectorRegistry(),
            async_settings=too_big,
        )
    assert caught.value.field == "async_max_body_bytes"
    assert "max_body_bytes=1000" in caught.value.message
