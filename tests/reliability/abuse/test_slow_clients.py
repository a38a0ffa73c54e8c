"""Slowloris against a real gateway and a real watchdog: slow request heads cannot crowd out normal calls.

``SLOW`` connections each send a request line and then one header byte every ``DRIP`` seconds, never
finishing the head. Meanwhile a client makes normal calls back to back. Asserted: every normal call
succeeds while the slow connections are open, and the server closes each slow connection about
``read_header_timeout`` (set short here) after it started. Printed: normal-call latency with and without the
attack, side by side. A keep-alive connection idle between requests for longer than the timeout stays open.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.async_calls import until
from tests.support.fuzz import ECHO_HANDLER, LiveGateway, gateway_process
from tests.support.watchdog import WatchdogProcess, start_watchdog, write_handler

pytestmark = pytest.mark.timeout(120)

HEADER_TIMEOUT = 1.5
SLOW = 200
DRIP = 0.25
ATTACK = HEADER_TIMEOUT * 2.5


@dataclass
class SlowOutcome:
    opened: int
    closed_after: list[float]
    """Seconds from connect to the server closing it, for each slow connection the server closed."""


async def _slow_connection(host: str, port: int, seconds: float, opened: list[None]) -> float | None:
    """Dribble a never-ending request head; the seconds until the server hung up, or None if it never did."""
    started = time.monotonic()  # before connecting: the server's clock starts no earlier than this
    reader, writer = await asyncio.open_connection(host, port)
    opened.append(None)
    try:
        writer.write(b"POST /function/echo HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        while time.monotonic() - started < seconds:
            try:
                writer.write(b"a")
                await writer.drain()
                data = await asyncio.wait_for(reader.read(1024), DRIP)
            except TimeoutError:
                continue
            except (ConnectionError, OSError):
                return time.monotonic() - started
            if not data:
                return time.monotonic() - started
        return None
    finally:
        writer.close()


async def _normal_calls(url: str, path: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await client.post(path, content=b"ping")
            assert response.status_code == 200 and response.content == b"ping", response.text
            latencies.append(time.perf_counter() - started)
    return latencies


async def _attack(url: str, path: str) -> tuple[list[float], list[float], SlowOutcome]:
    host, port = url.removeprefix("http://").split(":")
    baseline = await _normal_calls(url, path, 1.0)
    opened: list[None] = []
    slow = [asyncio.create_task(_slow_connection(host, int(port), ATTACK, opened)) for _ in range(SLOW)]
    await until(lambda: len(opened) == SLOW, 10, "the slow connections open before the normal calls")
    under_attack = await _normal_calls(url, path, HEADER_TIMEOUT)
    results = await asyncio.gather(*slow)
    return baseline, under_attack, SlowOutcome(SLOW, [r for r in results if r is not None])


def _check(name: str, baseline: list[float], under_attack: list[float], outcome: SlowOutcome) -> None:
    base, loaded = statistics.median(baseline), statistics.median(under_attack)
    closed = sorted(outcome.closed_after)
    print(
        f"\n{name}: {outcome.opened} slow connections; normal calls {len(baseline)} alone (median "
        f"{base * 1000:.1f} ms) vs {len(under_attack)} under attack (median {loaded * 1000:.1f} ms, "
        f"x{loaded / base:.1f}); slow connections closed by the server: {len(closed)}/{outcome.opened}, "
        f"after {closed[0]:.2f}-{closed[-1]:.2f} s (read_header_timeout {HEADER_TIMEOUT} s)"
        if closed
        else f"\n{name}: no slow connection was closed"
    )
    assert under_attack, "no normal call completed during the attack"
    assert len(closed) == outcome.opened, f"{outcome.opened - len(closed)} slow connections were never closed"
    assert closed[0] >= HEADER_TIMEOUT * 0.95, "closed before the head timeout: not what was measured"


def _keepalive_survives_idle(url: str, path: str) -> None:
    with httpx.Client(base_url=url, timeout=10.0) as client:
        first = client.post(path, content=b"one")
        time.sleep(HEADER_TIMEOUT * 1.5)  # idle between requests: not a slow head
        second = client.post(path, content=b"two")
        assert (first.status_code, second.status_code) == (200, 200)
        assert second.extensions["network_stream"] is first.extensions["network_stream"], (
            "connection was closed"
        )


@pytest.fixture(scope="module")
def gateway() -> Iterator[LiveGateway]:
    env = {"read_header_timeout": str(HEADER_TIMEOUT) + "s"}
    with (
        tempfile.TemporaryDirectory(prefix="pyfaas-slow-") as tmp,
        gateway_process(Path(tmp), env=env) as running,
    ):
        yield running


@pytest.fixture
def watchdog(tmp_path: Path) -> Iterator[WatchdogProcess]:
    handler = write_handler(tmp_path / "echo", ECHO_HANDLER)
    env = {"mode": "python", "handler": str(handler), "read_header_timeout": f"{HEADER_TIMEOUT}s"}
    process = start_watchdog(tmp_path, env)
    try:
        yield process
    finally:
        process.kill()


def test_slowloris_against_the_gateway(gateway: LiveGateway) -> None:
    baseline, under_attack, outcome = asyncio.run(_attack(gateway.url, "/function/echo"))
    _check("gateway", baseline, under_attack, outcome)
    assert gateway.alive()


def test_slowloris_against_a_watchdog(watchdog: WatchdogProcess) -> None:
    baseline, under_attack, outcome = asyncio.run(_attack(watchdog.url, "/"))
    _check("watchdog", baseline, under_attack, outcome)


def test_idle_keepalive_connections_are_not_cut(gateway: LiveGateway, watchdog: WatchdogProcess) -> None:
    _keepalive_survives_idle(gateway.url, "/function/echo")
    _keepalive_survives_idle(watchdog.url, "/")


def test_a_silent_connection_is_closed(gateway: LiveGateway, watchdog: WatchdogProcess) -> None:
    """A connection that sends nothing at all owes its first head from the moment it opened."""

    async def silent(url: str) -> float:
        host, port = url.removeprefix("http://").split(":")
        started = time.monotonic()
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            assert await asyncio.wait_for(reader.read(1), HEADER_TIMEOUT * 4) == b""
            return time.monotonic() - started
        finally:
            writer.close()

    for url in (gateway.url, watchdog.url):
        # a lower bound that is the configured head timeout (not closed early), not a figure for the machine
        assert asyncio.run(silent(url)) >= HEADER_TIMEOUT * 0.9
