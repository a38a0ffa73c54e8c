"""The gateway's side of the JetStream queue: one NATS connection, the shared layout, the record bucket.

The connection is made in the background so the gateway serves synchronous traffic even while NATS is
down; until it is up (and whenever nats-py is reconnecting) :meth:`AsyncQueue.require` raises
``QueueUnavailable`` and the async routes answer 503, never a 202 for a message that was not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, BucketNotFoundError
from nats.js.kv import KeyValue

from pyfaas.core.errors import QueueUnavailable
from pyfaas.core.queue_layout import QueueLayout

__all__ = ["AsyncQueue", "ensure_layout"]

log = logging.getLogger("pyfaas.gateway.async")


async def ensure_layout(js: JetStreamContext, layout: QueueLayout) -> KeyValue:
    """Create (or update) the streams and the record bucket; idempotent."""
    for config in layout.stream_configs():
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)
    try:
        return await js.key_value(layout.records_bucket)
    except BucketNotFoundError:
        return await js.create_key_value(layout.records_config())


class AsyncQueue:
    def __init__(self, servers: list[str], layout: QueueLayout, *, request_timeout: float = 5.0) -> None:
        self.servers = servers
        self.layout = layout
        self.request_timeout = request_timeout
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self.kv: KeyValue | None = None
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_error: tuple[str, float] = ("", 0.0)
        self._next_repair = 0.0
        self._repairs: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="async-queue-connect")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()

    def require(self) -> tuple[JetStreamContext, KeyValue]:
        """The JetStream context and record bucket, or ``QueueUnavailable`` when NATS is not connected."""
        if self.js is None or self.kv is None or self.nc is None or not self.nc.is_connected:
            raise QueueUnavailable("the async queue (NATS JetStream) is unavailable", retry_after=2.0)
        return self.js, self.kv

    def repair(self) -> None:
        """After a failed publish while connected: re-create the layout in the background (at most every 5 s)
        in case a stream was deleted; the failed request itself still gets its 503."""
        now = time.monotonic()
        if self.js is None or self.nc is None or not self.nc.is_connected or now < self._next_repair:
            return
        self._next_repair = now + 5.0
        self._repairs.add(task := asyncio.create_task(self._repair(self.js)))
        task.add_done_callback(self._repairs.discard)

    async def _repair(self, js: JetStreamContext) -> None:
        try:
            self.kv = await ensure_layout(js, self.layout)
        except Exception as exc:
            log.warning("cannot re-create the JetStream layout: %s", exc)

    def max_payload(self) -> int:
        """The connected server's ``max_payload`` (bytes per message)."""
        return self.nc.max_payload if self.nc is not None else 1024 * 1024

    async def _connect(self) -> None:
        nc: NATS | None = None
        while nc is None:
            try:
                nc = await nats.connect(
                    self.servers,
                    name="pyfaas-gateway",
                    connect_timeout=2,
                    reconnect_time_wait=0.5,
                    max_reconnect_attempts=-1,
                    error_cb=self._log_error,
                )
            except Exception as exc:  # nats raises unrelated types for "unreachable"
                log.warning("nats %s unreachable, retrying: %s", self.servers, exc)
                await asyncio.sleep(1.0)
        self.nc = nc
        js = nc.jetstream(timeout=self.request_timeout)
        while True:
            try:
                self.kv = await ensure_layout(js, self.layout)
                break
            except Exception as exc:
                log.warning("cannot create the JetStream layout yet: %s", exc)
                await asyncio.sleep(1.0)
        self.js = js
        self.ready.set()
        log.info("async queue ready on %s", self.servers)

    async def _log_error(self, exc: Exception) -> None:
        # nats-py reports every failed (re)connect attempt; repeat the same message at most every 10 s
        text = f"nats: {exc}"
        now = time.monotonic()
        if text != self._last_error[0] or now - self._last_error[1] > 10.0:
            log.warning(text)
            self._last_error = (text, now)
