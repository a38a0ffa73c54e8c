"""sleep: waits, then answers; a slow function for async demos.

The time is ``?seconds=N`` or the body (a number), default 2, at most ``MAX_SECONDS`` (env, default 60).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any


async def handle(event: Any, context: Any) -> dict[str, Any]:
    raw = event.query.get("seconds") or bytes(event.body).decode("utf-8", errors="replace").strip() or "2"
    try:
        seconds = float(raw)
    except ValueError:
        return {"statusCode": 400, "body": f"seconds must be a number, got {raw[:40]!r}\n"}
    limit = float(os.environ.get("MAX_SECONDS", "60"))
    if not 0 <= seconds <= limit:
        return {"statusCode": 400, "body": f"seconds must be between 0 and {limit:g}\n"}
    started = time.monotonic()
    await asyncio.sleep(seconds)
    return {"statusCode": 200, "body": {"slept": round(time.monotonic() - started, 3), "requested": seconds}}
