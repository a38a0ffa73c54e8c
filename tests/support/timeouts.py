"""What the per-function timeout tests share, locally and on the cluster: the sleeping handler and the wait
for an async call's final record."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

__all__ = ["SLEEPER", "final_record"]

SLEEPER = """
import json
import os
import time

SETTINGS = ("exec_timeout", "write_timeout", "read_timeout")


def handle(event, context):
    seconds = float(event.query.get("s", "0"))
    time.sleep(seconds)
    seen = {
        "slept": seconds,
        "header": event.headers.get("traceparent"),
        "context": context.traceparent,
        "trace_id": context.trace_id,
        "settings": {name: os.environ.get(name) for name in SETTINGS},
    }
    return {"statusCode": 200, "body": json.dumps(seen), "headers": {"Content-Type": "application/json"}}
"""
"""Sleeps ``?s=`` seconds, then answers what it saw: the trace context and the watchdog's timeout settings."""


async def final_record(http: aiohttp.ClientSession, call_id: str, within: float) -> dict[str, Any]:
    """Poll ``/system/async/CALL_ID`` until the call has finished (succeeded, failed or dead-lettered)."""
    deadline = time.monotonic() + within
    record: dict[str, Any] = {}
    while time.monotonic() < deadline:
        async with http.get(f"/system/async/{call_id}") as response:
            if response.status == 200:
                record = await response.json()
                if record["state"] in ("succeeded", "failed", "dead-lettered"):
                    return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"call {call_id} did not finish: {record}")
