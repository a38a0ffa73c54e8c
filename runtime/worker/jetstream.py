"""The worker's NATS connection and the idempotent creation of the shared JetStream layout.

Connect retries until NATS answers (or the worker is told to stop); after that nats-py reconnects forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError, BucketNotFoundError, ServerError
from nats.js.kv import KeyValue

from pyfaas.core.queue_layout import QueueLayout
from pyfaas.worker.aio import sleep_or_stop

__all__ = ["connect", "ensure_layout"]

log = logging.getLogger("pyfaas.worker")

_STORE_RETRIES = 20
_STORE_RETRY_WAIT = 0.1
"""nats-server removes a deleted stream's files in the background; re-creating the stream at once can fail
with "error creating store for stream" (500) until that is done: creation is retried for about two seconds."""


class _ThrottledLog:
    """nats-py reports every failed (re)connect attempt; repeat the same message at most every 10 s."""

    def __init__(self) -> None:
        self._last: tuple[str, float] = ("", 0.0)

    async def error(self, exc: Exception) -> None:
        text = f"nats: {exc}"
        now = time.monotonic()
        if text != self._last[0] or now - self._last[1] > 10.0:
            log.warning(text)
            self._last = (text, now)


async def _log_disconnect() -> None:
    log.warning("nats: disconnected")


async def _log_reconnect() -> None:
    log.info("nats: reconnected")


async def connect(servers: list[str], *, name: str, stop: asyncio.Event) -> NATS | None:
    """Connect (nats-py retries until the server answers, then reconnects forever); None if ``stop`` is set
    first, so a SIGTERM during a NATS outage still ends the worker."""
    throttled = _ThrottledLog()
    while not stop.is_set():
        attempt = asyncio.ensure_future(
            nats.connect(
                servers,
                name=name,
                connect_timeout=2,
                reconnect_time_wait=0.5,
                max_reconnect_attempts=-1,
                error_cb=throttled.error,
                disconnected_cb=_log_disconnect,
                reconnected_cb=_log_reconnect,
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({attempt, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not attempt.done():
            attempt.cancel()
            with contextlib.suppress(BaseException):
                await attempt
            return None
        try:
            return attempt.result()
        except Exception as exc:  # nats raises several unrelated types for "not reachable"
            await throttled.error(exc)
            await sleep_or_stop(0.5, stop)
    return None


async def ensure_layout(js: JetStreamContext, layout: QueueLayout) -> KeyValue:
    """Create (or update to the current configuration) the streams and the record bucket."""
    for config in layout.stream_configs():
        await _add_or_update_stream(js, config)
    try:
        return await js.key_value(layout.records_bucket)
    except BucketNotFoundError:
        return await js.create_key_value(layout.records_config())


async def _add_or_update_stream(js: JetStreamContext, config: StreamConfig) -> None:
    for attempt in range(_STORE_RETRIES):
        try:
            await js.add_stream(config)
            return
        except BadRequestError:
            await js.update_stream(config)
            return
        except ServerError:
            if attempt == _STORE_RETRIES - 1:
                raise
            await asyncio.sleep(_STORE_RETRY_WAIT)
