"""Deliver callback jobs from the callback stream to each call's ``X-Callback-Url``, with durable retries.

A job is POSTed with the function's response body and headers plus ``X-Call-Id``, ``X-Function-Status``,
``X-Function-Name``, ``X-Duration-Seconds`` and ``X-Function-Attempts``. Network errors, 5xx, 408 and 429
are retried through ``nak(delay)`` with exponential backoff; other answers end the job. The record's
``callbackStatus`` is set when a job ends (0 = never reached), before the job is acknowledged, so a job
redelivered after a crash whose callback was already answered is acknowledged without posting it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiohttp
import nats.errors
from multidict import CIMultiDict
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError
from pydantic import ValidationError

from pyfaas.core.queue_layout import CallbackJob, QueueLayout
from pyfaas.core.timeouts import derive
from pyfaas.worker.aio import sleep_or_stop
from pyfaas.worker.calls import RELEASED
from pyfaas.worker.invoker import NOT_FORWARDED
from pyfaas.worker.metrics import WorkerMetrics
from pyfaas.worker.records import RecordStore
from pyfaas.worker.retry import backoff_delay
from pyfaas.worker.settings import DEFAULT_CALLBACK_TIMEOUT
from pyfaas.worker.slots import FairSlots

__all__ = ["CallbackSender", "callback_headers", "callback_timeout"]

log = logging.getLogger("pyfaas.worker")
_RETRY_STATUSES = frozenset({408, 429})


def callback_headers(job: CallbackJob) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, values in job.headers.items():
        if name.lower() in NOT_FORWARDED:
            continue
        for value in values:
            headers.add(name, value)
    headers["X-Call-Id"] = job.callId
    headers["X-Function-Status"] = str(job.status)
    headers["X-Function-Name"] = job.function
    headers["X-Duration-Seconds"] = f"{job.durationSeconds:f}"
    headers["X-Function-Attempts"] = str(job.attempts)
    headers["User-Agent"] = "pyfaas-queue-worker"
    if job.traceparent:  # the callback continues the call's trace (not the function's response's)
        headers["traceparent"] = job.traceparent
    return headers


class CallbackSender:
    def __init__(
        self,
        *,
        js: JetStreamContext,
        layout: QueueLayout,
        session: aiohttp.ClientSession,
        records: RecordStore,
        metrics: WorkerMetrics,
        stop: asyncio.Event,
        max_inflight: int,
        max_attempts: int,
        initial_wait: float,
        max_wait: float,
        timeout: float | None,
        idle_poll: float,
        ack_wait: float,
        shutdown_timeout: float,
    ) -> None:
        self._js = js
        self._layout = layout
        self._session = session
        self._records = records
        self._metrics = metrics
        self._stop = stop
        self._slots = FairSlots(max_inflight)
        self._max_attempts = max_attempts
        self._initial_wait = initial_wait
        self._max_wait = max_wait
        self._timeout = timeout
        """Set explicitly (``callback_timeout``): every callback's limit; None: see ``callback_timeout``."""
        self._ack_wait = ack_wait
        self._idle_poll = idle_poll
        self._shutdown_timeout = shutdown_timeout
        self._inflight: set[asyncio.Task[None]] = set()
        self._active: set[int] = set()
        """Stream sequences of the jobs this worker is delivering now."""
        self._record_patience = max(60.0, ack_wait)
        self.delivered = 0
        self.retried = 0
        self.given_up = 0

    async def run(self) -> None:
        config = ConsumerConfig(
            durable_name=self._layout.callbacks_consumer,
            filter_subject=self._layout.callbacks_wildcard,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            max_deliver=-1,
            max_ack_pending=-1,
        )
        with contextlib.suppress(BadRequestError):
            await self._js.add_consumer(self._layout.callbacks_stream, config)
        sub = await self._js.pull_subscribe_bind(
            durable=self._layout.callbacks_consumer, stream=self._layout.callbacks_stream
        )
        idle = True
        try:
            while not self._stop.is_set():
                # idle: long-poll for one job; busy: take as many as there are free slots, without waiting
                granted = await self._slots.acquire("callbacks", 1 if idle else 50)
                try:
                    msgs = await sub.fetch(granted, timeout=self._idle_poll if idle else 0.2)
                except (TimeoutError, nats.errors.TimeoutError):
                    msgs = []
                except Exception as exc:
                    log.warning("callback fetch failed: %s", exc)
                    msgs = []
                    await sleep_or_stop(0.5, self._stop)
                self._slots.release(granted - len(msgs))
                idle = not msgs
                for msg in msgs:
                    task = asyncio.create_task(self._handle(msg))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
        finally:
            if self._inflight:
                # like calls: finish within shutdown_timeout, or be cut off and released (see _handle)
                _, pending = await asyncio.wait(set(self._inflight), timeout=self._shutdown_timeout)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _handle(self, msg: Msg) -> None:
        sequence = msg.metadata.sequence.stream
        if sequence in self._active:
            # redelivered while this worker still delivers it (ack-wait expired in a NATS outage): left
            # alone, it comes back after another ack-wait, when the first delivery's result is recorded
            self._slots.release(1)
            return
        self._active.add(sequence)
        keepalive = asyncio.create_task(self._keepalive(msg))
        try:
            await self._deliver(msg)
        except asyncio.CancelledError:
            # cut off by shutdown: redelivered at once to the next worker (posted again: at-least-once)
            keepalive.cancel()  # no in-progress ack after the release
            with contextlib.suppress(Exception):
                await RELEASED.apply(msg)
            raise
        except Exception as exc:
            log.warning("callback handling failed (will be redelivered): %s", exc)
        finally:
            keepalive.cancel()
            self._active.discard(sequence)
            self._slots.release(1)

    async def _keepalive(self, msg: Msg) -> None:
        # a slow receiver must not let ack-wait expire (which would post the callback twice)
        while True:
            await asyncio.sleep(max(0.2, self._ack_wait / 3))
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _deliver(self, msg: Msg) -> None:
        try:
            job = CallbackJob.model_validate_json(msg.data)
        except ValidationError as exc:
            log.error("dropping invalid callback job: %s", exc)
            await msg.term()
            return
        attempt = msg.metadata.num_delivered
        if attempt > 1 and await self._records.callback_status(job.callId) is not None:
            # ended by an earlier delivery (its worker died, or its ack was lost, after recording it)
            await msg.ack()
            return
        status = await self.post(job)
        if status is not None and status < 400:
            await self._record_status(job, status)
            await msg.ack()
            self.delivered += 1
            self._metrics.callbacks.labels("delivered").inc()
            return
        retryable = status is None or status >= 500 or status in _RETRY_STATUSES
        if retryable and attempt < self._max_attempts:
            await msg.nak(delay=backoff_delay(attempt, min_wait=self._initial_wait, max_wait=self._max_wait))
            self.retried += 1
            self._metrics.callbacks.labels("retried").inc()
            return
        await self._record_status(job, status or 0)
        await msg.ack()
        self.given_up += 1
        self._metrics.callbacks.labels("failed").inc()
        log.warning(
            "callback for %s to %s given up after %d attempts (%s)", job.callId, job.url, attempt, status
        )

    async def _record_status(self, job: CallbackJob, status: int) -> None:
        """Record the callback's result, retrying through a NATS outage: it is what stops a redelivery of
        the job from posting the callback again."""
        deadline = time.monotonic() + self._record_patience
        delay = 0.1
        while True:
            try:
                await self._records.set_callback_status(job.callId, status, final=job.record)
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("recording the callback result of %s failed, retrying: %s", job.callId, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def post(self, job: CallbackJob) -> int | None:
        """POST one callback; the receiver's status, or None if it could not be reached."""
        try:
            async with self._session.post(
                job.url,
                data=job.body,
                headers=callback_headers(job),
                timeout=aiohttp.ClientTimeout(total=callback_timeout(job, self._timeout)),
            ) as response:
                await response.read()
                return response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.info("callback to %s failed: %s", job.url, exc)
            return None


def callback_timeout(job: CallbackJob, explicit: float | None) -> float:
    """The limit of one callback POST: ``callback_timeout`` when set; else the default, raised to the call's
    own limit for a function whose declared timeout is longer (as OpenFaaS's queue-worker, which posts the
    callback with the client it called the function with): a receiver of a long call's large result gets as
    long as the call had, while a short function does not shorten the receiver's time below the default."""
    if explicit is not None:
        return explicit
    if job.functionTimeout is None:
        return DEFAULT_CALLBACK_TIMEOUT
    return max(DEFAULT_CALLBACK_TIMEOUT, derive(job.functionTimeout).callback)
