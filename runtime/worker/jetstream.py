"""The worker's NATS connection and the idempotent creation of the shared JetStream layout.

Connect retries until NATS answers (or the worker is told to stop); after that nats-py reconnects forever.
"""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, BucketNotFoundError
from nats.js.kv import KeyValue

from runtime.core.queue_layout import QueueLayout
from runtime.worker.aio import sleep_or_stop

__all__ = ["connect", "ensure_layout"]

log = logging.getLogger("pyfaas.worker")


async def _log_error(exc: Exception) -> None:
    log.warning("nats: %s", exc)


async def _log_disconnect() -> None:
    log.warning("nats: disconnected")


async def _log_reconnect() -> None:
    log.info("nats: reconnected")


async def connect(servers: list[str], *, name: str, stop: asyncio.Event) -> NATS | None:
    """Connect, retrying every half second; None if ``stop`` is set first."""
    while not stop.is_set():
        try:
            return await nats.connect(
                servers,
                name=name,
                connect_timeout=2,
                reconnect_time_wait=0.5,
                max_reconnect_attempts=-1,
                error_cb=_log_error,
                disconnected_cb=_log_disconnect,
                reconnected_cb=_log_reconnect,
            )
        except Exception as exc:  # nats raises several unrelated types for "not reachable"
            log.warning("nats: cannot connect to %s: %s", servers, exc)
            await sleep_or_stop(0.5, stop)
    return None


async def ensure_layout(js: JetStreamContext, layout: QueueLayout) -> KeyValue:
    """Create (or update to the current configuration) the streams and the record bucket."""
    for config in layout.stream_configs():
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)
    try:
        return await js.key_value(layout.records_bucket)
    except BucketNotFoundError:
        return await js.create_key_value(layout.records_config())
