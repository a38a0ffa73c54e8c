"""A slow function for async demos: sleeps for ?seconds=N (default 2, at most 30), then answers."""

import asyncio


async def handle(event, context):
    try:
        seconds = min(float(event.query.get("seconds", "2")), 30.0)
    except ValueError:
        return {"statusCode": 400, "body": "seconds must be a number"}
    await asyncio.sleep(seconds)
    return {"statusCode": 200, "body": f"slept {seconds:g}s\n"}
