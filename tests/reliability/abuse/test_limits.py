"""Oversized bodies get 413 and oversized headers 431, from a real gateway process and a real watchdog.

Bodies are tried with a declared ``Content-Length`` (refused before reading) and chunked (counted as they
arrive). The limits are set small so the test sends little: ``max_body_bytes`` (sync calls and the system
API), ``async_max_body_bytes`` (async calls), the watchdog's ``max_body_bytes``. Headers: one field over
aiohttp's field limit, and more header lines than it allows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fuzz import ECHO_HANDLER, LiveGateway, gateway_process, raw_request
from tests.support.nats import NatsServer, nats_server
from tests.support.watchdog import WatchdogProcess, start_watchdog, write_handler

__all__ = ["nats_server"]

pytestmark = pytest.mark.timeout(120)

SYNC_LIMIT = 64 * 1024
ASYNC_LIMIT = 32 * 1024
WATCHDOG_LIMIT = 16 * 1024


@pytest.fixture(scope="module")
def gateway(nats_server: NatsServer) -> Iterator[LiveGateway]:
    env = {"max_body_bytes": str(SYNC_LIMIT), "async_max_body_bytes": str(ASYNC_LIMIT)}
    with (
        tempfile.TemporaryDirectory(prefix="pyfaas-limits-") as tmp,
        gateway_process(Path(tmp), nats_url=nats_server.url, env=env) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def watchdog() -> Iterator[WatchdogProcess]:
    with tempfile.TemporaryDirectory(prefix="pyfaas-limits-wd-") as tmp:
        handler = write_handler(Path(tmp) / "echo", ECHO_HANDLER)
        env = {"mode": "python", "handler": str(handler), "max_body_bytes": str(WATCHDOG_LIMIT)}
        process = start_watchdog(Path(tmp), env)
        try:
            yield process
        finally:
            process.kill()


def _chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def _post(client: httpx.Client, path: str, size: int, *, chunked: bool) -> httpx.Response:
    content = _chunks(size) if chunked else b"x" * size
    return client.post(path, content=content, headers={"Content-Type": "application/octet-stream"})


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_gateway_bodies_over_the_limits_get_413(gateway: LiveGateway, chunked: bool) -> None:
    with gateway.client() as client:
        cases = [
            ("/function/echo", SYNC_LIMIT),
            ("/async-function/echo", ASYNC_LIMIT),
            ("/system/functions", SYNC_LIMIT),
            ("/system/secrets", SYNC_LIMIT),
        ]
        for path, limit in cases:
            response = _post(client, path, limit + 1024, chunked=chunked)
            assert response.status_code == 413, f"{path}: {response.status_code} {response.text[:200]}"
            assert response.json()["error"], path
        # Just under the limit still works (the limit is the limit, not something smaller).
        ok = _post(client, "/function/echo", SYNC_LIMIT - 1024, chunked=chunked)
        assert ok.status_code == 200 and len(ok.content) == SYNC_LIMIT - 1024
        assert _post(client, "/async-function/echo", ASYNC_LIMIT - 1024, chunked=chunked).status_code == 202
    assert gateway.alive()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_watchdog_body_over_the_limit_gets_413(watchdog: WatchdogProcess, chunked: bool) -> None:
    with httpx.Client(base_url=watchdog.url, timeout=30.0) as client:
        assert _post(client, "/", WATCHDOG_LIMIT + 1024, chunked=chunked).status_code == 413
        assert _post(client, "/", WATCHDOG_LIMIT - 1024, chunked=chunked).status_code == 200


def _head(path: str, extra: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode()


HUGE_FIELD = "X-Big: " + "a" * 70_000 + "\r\n"
MANY_FIELDS = "".join(f"X-H{i}: v\r\n" for i in range(300))


@pytest.mark.parametrize("extra", [HUGE_FIELD, MANY_FIELDS], ids=["one-huge-field", "too-many-fields"])
def test_oversized_headers_get_431(gateway: LiveGateway, watchdog: WatchdogProcess, extra: str) -> None:
    for url, path in ((gateway.url, "/function/echo"), (gateway.url, "/system/info"), (watchdog.url, "/")):
        response = raw_request(url, _head(path, extra))
        assert response.status == 431, f"{url}{path}: {response.status} {response.body[:200]!r}"
    assert "a" * 100 not in gateway.log_text(), "the oversized header was written to the log"
    assert gateway.alive()


def test_malformed_heads_get_a_json_400_that_echoes_nothing(gateway: LiveGateway) -> None:
    secretish = "Zm9vOmJhcg-not-logged"
    for extra in (f"X-Bad: {secretish}\x7f\r\n", f"Bad Name: {secretish}\r\n", f"X-Bad {secretish}\r\n"):
        response = raw_request(gateway.url, _head("/system/info", extra))
        assert response.status == 400, (extra, response.status, response.body)
        assert response.headers["content-type"].startswith("application/json")
        assert secretish.encode() not in response.body
    assert secretish not in gateway.log_text()


def test_headers_within_the_limits_pass(gateway: LiveGateway) -> None:
    """The gateway keeps its larger field limit (16 KiB: long Authorization headers) through the guard."""
    response = raw_request(gateway.url, _head("/healthz", "X-Big: " + "a" * 12_000 + "\r\n"))
    assert response.status == 200
