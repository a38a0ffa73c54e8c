"""Process one delivered call: run it, then record the outcome durably, then acknowledge.

Order per outcome, so a crash at any point loses nothing and re-runs as little as possible:
  succeeded/failed/dead-lettered: [dead letter stored] → [callback job stored] → final record → ack
  retry: record (state queued, last status) → ``nak(delay)``; JetStream holds the backoff, not this process.
The first store after the function answers ends the window in which a crash makes the call run again: the
callback job (it carries the final record) for calls with a callback URL, otherwise the record itself. A
redelivered message whose outcome is stored (a final record, or its callback job) is acknowledged without
running again; only a call whose function was running, or whose answer was not yet stored, runs twice.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from pyfaas.core.labels import RetryPolicy, retry_policy
from pyfaas.core.models import AsyncCallRecord, CallState, QueueRequest
from pyfaas.core.queue_layout import CallbackJob, DeadLetterHeaders, QueueLayout, is_valid_call_id
from pyfaas.core.telemetry import ActiveSpan, Tracing
from pyfaas.core.timeouts import declared_timeout
from pyfaas.core.tracecontext import TRACEPARENT, TRACESTATE, trace_id_of
from pyfaas.worker.invoker import NOT_FORWARDED, CallResult, Invoker
from pyfaas.worker.metrics import WorkerMetrics
from pyfaas.worker.records import TERMINAL_STATES, RecordStore
from pyfaas.worker.retry import Outcome, backoff_delay, classify

__all__ = ["ACKED", "RELEASED", "CallProcessor", "Counters", "Settlement"]

log = logging.getLogger("pyfaas.worker")

_RUNNING_AFTER = 0.05
"""Seconds a call runs before its record says ``running``."""


class _Earlier(enum.Enum):
    STORED = "outcome stored"
    RETRY = "answered, retry scheduled"
    UNKNOWN = "no answer stored: the function may have run"


@dataclass(slots=True)
class Counters:
    """What this worker process did; tests and ``__repr__`` read these instead of sleeping."""

    processed: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    duplicates_skipped: int = 0
    possible_reruns: int = 0
    """Deliveries run although an earlier delivery of the message may have run the function."""
    errors: int = 0


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a message was settled: acknowledged, or handed back for redelivery after ``delay`` seconds."""

    acked: bool
    delay: float = 0.0

    async def apply(self, msg: Msg) -> None:
        """Settle another delivery of the same message the same way."""
        if self.acked:
            await msg.ack()
        else:
            await msg.nak(delay=self.delay)


ACKED = Settlement(acked=True)
RELEASED = Settlement(acked=False, delay=0.001)
"""Handed back for redelivery at once (shutdown). Never a plain NAK: nats-server keeps a plain NAK in memory
only, so a restart of NATS (``pyfaas up`` stops the worker, then NATS) forgets it and the call waits a full
ack wait; a NAK with a delay is stored with the consumer's state and survives a restart, even a SIGKILL."""


def _now() -> datetime:
    return datetime.now(UTC)


class CallProcessor:
    def __init__(
        self,
        *,
        js: JetStreamContext,
        layout: QueueLayout,
        records: RecordStore,
        invoker: Invoker,
        default_policy: RetryPolicy,
        metrics: WorkerMetrics,
        stop: asyncio.Event,
        record_patience: float,
        max_payload: Callable[[], int] = lambda: 1024 * 1024,
        tracing: Tracing | None = None,
    ) -> None:
        self._tracing = tracing
        self._js = js
        self._layout = layout
        self._records = records
        self._invoker = invoker
        self._default_policy = default_policy
        self._metrics = metrics
        self._stop = stop
        self._record_patience = record_patience
        self._max_payload = max_payload
        self.counters = Counters()
        self.on_request: Callable[[str, str, dict[str, str] | None], None] | None = None
        """Told each parsed call's function and annotations (the consumer follows its declared timeout)."""

    async def process(self, msg: Msg, *, name: str, namespace: str) -> Settlement:
        meta = msg.metadata
        attempt = meta.num_delivered
        label = f"{name}.{namespace}"
        try:
            request = QueueRequest.model_validate_json(msg.data)
        except ValidationError as exc:
            call_id = f"seq-{meta.sequence.stream}"
            reason = f"invalid QueueRequest: {exc}"
            await self._durably(
                lambda: self._dead_letter(msg, call_id, name, namespace, 400, reason, attempt)
            )
            await msg.ack()
            self.counters.dead_lettered += 1
            self._metrics.dead_lettered.labels(label).inc()
            return ACKED
        if self.on_request is not None:
            self.on_request(name, namespace, request.Annotations)
        call_id = request.header("X-Call-Id") or ""
        if not is_valid_call_id(call_id):
            call_id = f"seq-{meta.sequence.stream}"
        policy = retry_policy(request.Annotations, self._default_policy)
        queued_at = meta.timestamp
        traceparent = request.header(TRACEPARENT)
        base = AsyncCallRecord(
            callId=call_id,
            function=request.Function,
            state="running",
            attempts=attempt,
            queuedAt=queued_at,
            callbackUrl=request.CallbackUrl.url() if request.CallbackUrl else None,
            traceId=trace_id_of(traceparent),
        )

        if attempt > 1:
            earlier = await self._earlier_delivery(msg, request, call_id, name, namespace)
            if earlier is _Earlier.STORED:
                await msg.ack()
                self.counters.duplicates_skipped += 1
                self._metrics.duplicates.labels(label).inc()
                return ACKED
            if earlier is _Earlier.UNKNOWN:
                # its worker died (or its ack-wait expired) before storing an answer: it may have run
                self.counters.possible_reruns += 1
                self._metrics.possible_reruns.labels(label).inc()
        if attempt > policy.attempts:
            # attempts were used up by crashes or ack-wait expiries, not by answers
            result = CallResult(
                status=503, internal=True, error="delivery attempts exhausted without an answer"
            )
            await self._finish(msg, request, base, result, Outcome.DEAD, name=name, namespace=namespace)
            return ACKED

        if attempt == 1:
            self._metrics.queue_wait.labels(label).observe(max(0.0, time.time() - queued_at.timestamp()))
        base = base.model_copy(update={"startedAt": _now()})
        # "running" is informational (correctness rests on the final record): it is written only for calls
        # still running after _RUNNING_AFTER, which halves the record writes of short calls, and awaited
        # before any later state so the order of writes holds
        running: list[asyncio.Future[int]] = []
        timer = asyncio.get_running_loop().call_later(
            _RUNNING_AFTER, lambda: running.append(asyncio.ensure_future(self._records.put(base)))
        )
        self._metrics.inflight.inc()
        span = self._spans(request, label, call_id, attempt, queued_at) if self._tracing is not None else None
        try:
            result = await self._invoker.invoke(
                request,
                call_id=call_id,
                attempt=attempt,
                traceparent=span.traceparent if span is not None else None,
            )
        finally:
            timer.cancel()
            self._metrics.inflight.dec()
        if span is not None:
            span.end(status=result.status, error=result.error if result.status >= 500 else None)
            for write in running:
                try:
                    await write
                except Exception as exc:
                    log.warning("could not record %s as running: %s", call_id, exc)
        self._metrics.run_time.labels(label).observe(result.duration)
        outcome = classify(status=result.status, internal=result.internal, attempt=attempt, policy=policy)
        if result.timed_out:  # it used its whole time: another attempt would hold a replica as long again
            outcome = Outcome.FAILED
        if outcome is Outcome.RETRY:
            delay = backoff_delay(attempt, min_wait=policy.min_wait, max_wait=policy.max_wait)
            waiting = base.model_copy(
                update={"state": "queued", "lastStatus": result.status, "error": result.error}
            )
            await self._durably(lambda: self._records.put(waiting))
            await msg.nak(delay=delay)
            self.counters.retried += 1
            self._metrics.retried.labels(label).inc()
            return Settlement(acked=False, delay=delay)
        await self._finish(msg, request, base, result, outcome, name=name, namespace=namespace)
        return ACKED

    async def _finish(
        self,
        msg: Msg,
        request: QueueRequest,
        base: AsyncCallRecord,
        result: CallResult,
        outcome: Outcome,
        *,
        name: str,
        namespace: str,
    ) -> None:
        attempt = base.attempts
        label = f"{name}.{namespace}"
        if outcome is Outcome.DEAD:
            await self._durably(
                lambda: self._dead_letter(
                    msg, base.callId, name, namespace, result.status, result.error or "", attempt
                )
            )
        state: CallState = outcome.value  # type: ignore[assignment]
        final = base.model_copy(
            update={
                "state": state,
                "lastStatus": result.status,
                "error": result.error,
                "finishedAt": _now(),
                "startedAt": base.startedAt or _now(),
            }
        )
        if request.CallbackUrl is not None:
            # the job carries the final record: once it is stored, a crash no longer re-runs the call
            job = CallbackJob(
                callId=base.callId,
                function=request.Function,
                namespace=namespace,
                url=request.CallbackUrl.url(),
                status=result.status,
                headers=_response_headers(result),
                body=result.body,
                attempts=attempt,
                durationSeconds=result.duration,
                sequence=msg.metadata.sequence.stream,
                record=final,
                traceparent=request.header(TRACEPARENT),
                functionTimeout=declared_timeout(request.Annotations),
            )
            payload = job.model_dump_json().encode()
            if len(payload) > self._max_payload():
                job = _fit(job, self._max_payload())
                payload = job.model_dump_json().encode()
            await self._durably(lambda: self._publish_callback(job.callId, payload, name, namespace, msg))
        await self._durably(lambda: self._records.put(final))
        await msg.ack()
        if outcome is Outcome.SUCCEEDED:
            self.counters.processed += 1
            self._metrics.processed.labels(label).inc()
        elif outcome is Outcome.FAILED:
            self.counters.failed += 1
            self._metrics.failed.labels(label).inc()
        else:
            self.counters.dead_lettered += 1
            self._metrics.dead_lettered.labels(label).inc()

    def _spans(
        self, request: QueueRequest, label: str, call_id: str, attempt: int, queued_at: datetime
    ) -> ActiveSpan:
        """The queue wait (from submission to now) as a finished span, and the worker's call span."""
        assert self._tracing is not None
        traceparent = request.header(TRACEPARENT)
        tracestate = request.header(TRACESTATE)
        submitted = request.header("X-Start-Time") or ""
        start_ns = int(submitted) if submitted.isdigit() else int(queued_at.timestamp() * 1e9)
        attributes: dict[str, str | int] = {
            "faas.function": label,
            "faas.call_id": call_id,
            "faas.attempt": attempt,
        }
        self._tracing.start(
            "queue wait", traceparent, tracestate, kind="consumer", start_ns=start_ns, attributes=attributes
        ).end()
        return self._tracing.start(
            "worker call", traceparent, tracestate, kind="client", attributes=attributes
        )

    async def _dead_letter(
        self, msg: Msg, call_id: str, name: str, namespace: str, status: int, error: str, attempts: int
    ) -> None:
        headers = {
            "Nats-Msg-Id": f"dead-{call_id}-{msg.metadata.sequence.stream}",
            DeadLetterHeaders.CALL_ID: call_id,
            DeadLetterHeaders.FUNCTION: name,
            DeadLetterHeaders.NAMESPACE: namespace,
            DeadLetterHeaders.STATUS: str(status),
            DeadLetterHeaders.ERROR: " ".join(error.split())[:1000],
            DeadLetterHeaders.ATTEMPTS: str(attempts),
        }
        await self._js.publish(
            self._layout.dead_subject(call_id), msg.data, stream=self._layout.dead_stream, headers=headers
        )

    async def _earlier_delivery(
        self, msg: Msg, request: QueueRequest, call_id: str, name: str, namespace: str
    ) -> _Earlier:
        """What became of the previous delivery of this message? Its outcome is stored (then its ack was
        lost, or its worker died before acknowledging) if the record is final, or, for a call with a
        callback, if its callback job is stored: the record is then restored from the job. A ``queued``
        record of the previous attempt with its status is a retry the worker scheduled."""
        attempt = msg.metadata.num_delivered
        existing = await self._records.get(call_id)
        if existing is not None and existing.state in TERMINAL_STATES and existing.attempts < attempt:
            return _Earlier.STORED
        if request.CallbackUrl is not None:
            job = await self._stored_callback_job(call_id, name, namespace)
            if job is not None and job.record is not None and job.sequence == msg.metadata.sequence.stream:
                record = job.record
                await self._durably(lambda: self._records.restore_final(record))
                return _Earlier.STORED
        if (
            existing is not None
            and existing.state == "queued"
            and existing.attempts == attempt - 1
            and existing.lastStatus is not None
        ):
            return _Earlier.RETRY
        return _Earlier.UNKNOWN

    async def _stored_callback_job(self, call_id: str, name: str, namespace: str) -> CallbackJob | None:
        """The call's callback job if it is still in the callback stream (not yet delivered)."""
        subject = self._layout.callback_subject(name, namespace, call_id)
        try:
            stored = await self._js.get_last_msg(self._layout.callbacks_stream, subject)
        except NotFoundError:
            return None
        try:
            return CallbackJob.model_validate_json(stored.data or b"")
        except ValidationError:
            return None

    async def _publish_callback(
        self, call_id: str, payload: bytes, name: str, namespace: str, msg: Msg
    ) -> None:
        # one callback per stored message: a rerun after a crash is deduplicated by JetStream
        msg_id = f"cb-{call_id}-{msg.metadata.sequence.stream}"
        await self._js.publish(
            self._layout.callback_subject(name, namespace, call_id),
            payload,
            stream=self._layout.callbacks_stream,
            headers={"Nats-Msg-Id": msg_id},
        )

    async def _durably(self, operation: Callable[[], Awaitable[object]]) -> None:
        """Retry a JetStream write through a NATS outage (reconnects happen underneath) for a while."""
        deadline = time.monotonic() + self._record_patience
        delay = 0.1
        while True:
            try:
                await operation()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("recording outcome failed, retrying: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)


def _response_headers(result: CallResult) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for key, value in result.headers:
        if key.lower() in NOT_FORWARDED:
            continue
        headers.setdefault(key, []).append(value)
    return headers


TRUNCATED_HEADER = "X-Pyfaas-Body-Truncated"


def _fit(job: CallbackJob, max_payload: int) -> CallbackJob:
    """A response too large for one NATS message is cut to fit; the callback says so and how long it was."""
    size = len(job.model_dump_json())
    if size <= max_payload:
        return job
    # base64 grows the body by 4/3; keep a margin for the headers and the other fields
    keep = max(0, (max_payload - (size - len(job.body) * 4 // 3) - 4096) * 3 // 4)
    headers = {**job.headers, TRUNCATED_HEADER: [str(len(job.body))]}
    return job.model_copy(update={"body": job.body[:keep], "headers": headers})
