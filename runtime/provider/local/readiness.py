"""Readiness of a freshly started replica: its port file, then ``/_/health`` answering 200.

The watchdog binds port 0, writes the bound port to ``port_file`` and only then reports healthy. Polling is
every few milliseconds for the first second (a forked replica is ready in tens of milliseconds, and every
millisecond of detection delay is cold-start latency), then backs off, so a slow start costs little CPU.
Reading a small file and, once the port is known, a raw HTTP/1.1 probe keep each poll cheap.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

__all__ = ["NotReady", "probe_health", "wait_ready"]

_FAST_DELAY = 0.003
_FAST_PERIOD = 1.0
_MAX_DELAY = 0.05
_PROBE_TIMEOUT = 1.0


class NotReady(Exception):
    """The replica exited or did not become ready in time (message says which)."""


def _read_port(port_file: Path) -> int | None:
    try:
        text = port_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def _healthy_marker(lock_file: Path | None) -> bool:
    # A stat of a local file: cheaper than handing it to a thread.
    return lock_file is None or os.path.exists(lock_file)


async def probe_health(port: int) -> bool:
    """True if ``GET /_/health`` on 127.0.0.1:port answers 200."""
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(b"GET /_/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                status_line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return False
    parts = status_line.split()
    return len(parts) >= 2 and parts[1] == b"200"


async def wait_ready(
    *, port_file: Path, lock_file: Path | None, exited: asyncio.Future[int | None], within: float
) -> int:
    """Return the replica's port once it is healthy; raise ``NotReady`` if it exits or times out.

    ``lock_file`` (None when the function suppresses it) appears when the watchdog turns healthy: probing
    only after it exists keeps a starting replica from being slowed down by probes it must answer 503.
    """
    started = time.monotonic()
    deadline = started + within
    delay = _FAST_DELAY
    port: int | None = None
    while True:
        if exited.done():
            raise NotReady(f"exited with code {exited.result()} before becoming ready")
        if port is None:
            port = _read_port(port_file)
        if port is not None and _healthy_marker(lock_file) and await probe_health(port):
            return port
        if time.monotonic() >= deadline:
            raise NotReady(f"not ready within {within:g}s")
        await asyncio.wait({exited}, timeout=delay)
        if time.monotonic() - started > _FAST_PERIOD:
            delay = min(delay * 1.5, _MAX_DELAY)
