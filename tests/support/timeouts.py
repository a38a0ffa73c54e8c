"""What the per-function timeout tests share, locally and on the cluster: the sleeping handler and the wait
for an async call's final record."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support.polling import eventually

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

    async def record() -> dict[str, Any]:
        async with http.get(f"/system/async/{call_id}") as response:
            return await response.json() if response.status == 200 else {}

    final = ("succeeded", "failed", "dead-lettered")
    return await eventually(record, lambda found: found.get("state") in final, within, what=f"call {call_id}")
