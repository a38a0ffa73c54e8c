"""Fair consumption of the work stream: one durable pull consumer per function, two loops each.

Discovery scans the stream's per-subject counts (``faas.calls.<ns>.<name>``) and starts the loops of each
new function; the counts are also the queue-depth gauge. A fetch loop keeps up to ``batch`` messages
delivered ahead (an empty buffer long-polls one message), so a finished call is replaced without a fetch
round trip; a dispatch loop starts them as ``FairSlots`` grants this function slots. Slots are shared
round-robin between functions with work, so a deep backlog takes turns with the others instead of filling
``max_inflight``. One loop sends in-progress acks for every held message (buffered, running, duplicate),
so ack-wait never expires under a long call or a long wait for a slot.

Each function's consumer has the ack wait derived from the function's declared timeout (``T + 4g``,
``pyfaas.core.timeouts``): JetStream redelivers a call only once it cannot still be running, even if the
in-progress acks stop reaching NATS. The timeout is read from the newest queued call when the consumer is
made, and followed as calls arrive (a redeploy with another timeout updates the consumer in place). An
explicit ``ack_wait`` setting wins for every function, as OpenFaaS's does.

Shutdown (``stop``): stop fetching and withdraw every pull subscription first (a cancelled fetch leaves its
pull request open on the server, which would deliver more calls, or the released ones, to this exiting
worker); release the buffered messages; let running calls finish for up to ``shutdown_timeout`` and release
the rest; flush, so every release has reached NATS before the worker exits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError

from pyfaas.core.models import QueueRequest
from pyfaas.core.queue_layout import QueueLayout
from pyfaas.core.timeouts import declared_timeout, derive
from pyfaas.system.nats_internals import buffered_deliveries
from pyfaas.worker.aio import sleep_or_stop
from pyfaas.worker.calls import RELEASED, CallProcessor, Settlement
from pyfaas.worker.jetstream import ensure_layout
from pyfaas.worker.metrics import WorkerMetrics
from pyfaas.worker.settled import SettledMessages
from pyfaas.worker.slots import FairSlots

__all__ = ["CallConsumer"]

log = logging.getLogger("pyfaas.worker")

_SETTLED_MEMORY = 100_000
_MessageKey = tuple[int, int]
"""(stream sequence, stored timestamp in microseconds): one message of the work stream, across its deliveries;
the timestamp tells apart messages of a re-created stream."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FETCH_ERRORS = (TimeoutError, nats.errors.TimeoutError)


@dataclass(slots=True)
class _FunctionQueue:
    """One function's consumer, its prefetched messages and the two loops that move them."""

    name: str
    namespace: str
    sub: JetStreamContext.PullSubscription
    buffer: deque[Msg] = field(default_factory=deque)
    """Delivered, not yet running (kept alive); at most ``batch`` long."""
    filled: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    prefetch: asyncio.Future[list[Msg]] | None = None
    """A batch fetch whose loop was cancelled by shutdown: it may already hold messages (see _fetch)."""
    ack_wait: float = 0.0
    """The consumer's ack wait as last configured."""

    @property
    def key(self) -> str:
        return f"{self.name}.{self.namespace}"


def _message_key(msg: Msg) -> _MessageKey:
    meta = msg.metadata
    return (meta.sequence.stream, (meta.timestamp - _EPOCH) // timedelta(microseconds=1))


class CallConsumer:
    def __init__(
        self,
        *,
        js: JetStreamContext,
        layout: QueueLayout,
        processor: CallProcessor,
        metrics: WorkerMetrics,
        slots: FairSlots,
        stop: asyncio.Event,
        ack_wait: float | None,
        default_ack_wait: float,
        batch: int,
        discovery_interval: float,
        idle_poll: float,
        shutdown_timeout: float,
        flush: Callable[[], Awaitable[None]],
    ) -> None:
        self._js = js
        self._layout = layout
        self._processor = processor
        self._metrics = metrics
        self.slots = slots
        self._stop = stop
        self._ack_wait = ack_wait
        """Set explicitly: every function's; None: derived per function."""
        self._default_ack_wait = default_ack_wait
        self._retuned = asyncio.Event()
        """A consumer's ack wait changed: the keep-alive loop re-reads its interval at once."""
        self._configuring: set[asyncio.Task[None]] = set()
        processor.on_request = self._observe
        self._batch = batch
        self._discovery_interval = discovery_interval
        self._idle_poll = idle_poll
        self._shutdown_timeout = shutdown_timeout
        self._flush = flush
        """Round trip to NATS: everything published before it (acks, releases) has reached the server."""
        self.released = 0
        """Messages handed back at shutdown (buffered or cut off)."""
        self._queues: dict[str, _FunctionQueue] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._held: dict[_MessageKey, list[Msg]] = {}
        """Messages running here -> later deliveries of the same message (see _spawn)."""
        self._alive: dict[int, Msg] = {}
        """Messages this worker holds (buffered, running or duplicate deliveries), by identity."""
        self._settled = SettledMessages(_SETTLED_MEMORY)
        """Recently acknowledged messages: a server restart can forget that they were delivered."""

    def __repr__(self) -> str:
        return f"CallConsumer({self._processor.counters}, {self.slots}, functions={sorted(self._queues)})"

    @property
    def functions(self) -> list[str]:
        return sorted(self._queues)

    async def run(self) -> None:
        """Discover functions and consume until ``stop``; then drain in-flight calls."""
        keep_alive = asyncio.create_task(self._keep_alive(), name="keep-alive")
        try:
            while not self._stop.is_set():
                try:
                    await self.discover()
                except NotFoundError:
                    log.warning("the work stream is gone; re-creating the JetStream layout")
                    with contextlib.suppress(Exception):
                        await ensure_layout(self._js, self._layout)
                except Exception as exc:
                    log.warning("discovery failed: %s", exc)
                await sleep_or_stop(self._discovery_interval, self._stop)
        finally:
            await self._shutdown()
            keep_alive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keep_alive

    async def discover(self) -> None:
        info = await self._js.stream_info(
            self._layout.calls_stream, subjects_filter=self._layout.calls_wildcard
        )
        counts = info.state.subjects or {}
        seen: set[str] = set()
        for subject, count in counts.items():
            parsed = self._layout.function_of_subject(subject)
            if parsed is None:
                continue
            name, namespace = parsed
            key = f"{name}.{namespace}"
            seen.add(key)
            self._metrics.queue_depth.labels(key).set(count)
            if key not in self._queues and not self._stop.is_set():
                await self._start_queue(name, namespace)
        for key in self._queues:
            if key not in seen:
                self._metrics.queue_depth.labels(key).set(0)

    def _ack_wait_for(self, annotations: dict[str, str] | None) -> float:
        if self._ack_wait is not None:
            return self._ack_wait
        declared = declared_timeout(annotations)
        return self._default_ack_wait if declared is None else derive(declared).worker_ack_wait

    async def _newest_ack_wait(self, name: str, namespace: str) -> float:
        """The ack wait the function's newest queued call asks for (its declared timeout)."""
        if self._ack_wait is not None:
            return self._ack_wait
        try:
            stored = await self._js.get_last_msg(
                self._layout.calls_stream, self._layout.call_subject(name, namespace)
            )
            request = QueueRequest.model_validate_json(stored.data or b"")
        except Exception:
            return self._default_ack_wait  # followed from the calls themselves (_observe)
        return self._ack_wait_for(request.Annotations)

    async def _configure(self, name: str, namespace: str, ack_wait: float) -> None:
        """Create the function's consumer, or update it (JetStream changes an ack wait in place)."""
        durable = self._layout.consumer_name(name, namespace)
        config = ConsumerConfig(
            durable_name=durable,
            filter_subject=self._layout.call_subject(name, namespace),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ack_wait,
            max_deliver=-1,
            max_ack_pending=-1,
            max_waiting=512,
        )
        try:
            await self._js.add_consumer(self._layout.calls_stream, config)
        except BadRequestError as exc:
            # it exists with a configuration that cannot be changed in place: keep using it
            log.warning("consumer %s exists with a different configuration: %s", durable, exc)

    def _observe(self, name: str, namespace: str, annotations: dict[str, str] | None) -> None:
        """A call of this function is starting: follow its declared timeout if it changed."""
        queue = self._queues.get(f"{name}.{namespace}")
        wanted = self._ack_wait_for(annotations)
        if queue is None or wanted == queue.ack_wait:
            return
        task = asyncio.create_task(self._retune(queue, wanted))
        self._configuring.add(task)
        task.add_done_callback(self._configuring.discard)

    async def _retune(self, queue: _FunctionQueue, ack_wait: float) -> None:
        previous, queue.ack_wait = queue.ack_wait, ack_wait
        # held messages first: a shorter ack wait counts from their last in-progress ack
        await self._keep_held()
        try:
            await self._configure(queue.name, queue.namespace, ack_wait)
        except Exception as exc:
            queue.ack_wait = previous
            log.warning("cannot set the ack wait of %s to %gs: %s", queue.key, ack_wait, exc)
            return
        log.info("ack wait of %s is now %gs (its declared timeout)", queue.key, ack_wait)
        self._retuned.set()

    async def _start_queue(self, name: str, namespace: str) -> None:
        durable = self._layout.consumer_name(name, namespace)
        ack_wait = await self._newest_ack_wait(name, namespace)
        await self._configure(name, namespace, ack_wait)
        sub = await self._js.pull_subscribe_bind(durable=durable, stream=self._layout.calls_stream)
        queue = _FunctionQueue(name, namespace, sub, ack_wait=ack_wait)
        queue.tasks = [
            asyncio.create_task(self._fetch_loop(queue), name=f"fetch-{queue.key}"),
            asyncio.create_task(self._dispatch_loop(queue), name=f"dispatch-{queue.key}"),
        ]
        self._queues[queue.key] = queue
        self._retuned.set()
        log.info("consuming %s (consumer %s, ack wait %gs)", queue.key, durable, ack_wait)

    async def _fetch_loop(self, queue: _FunctionQueue) -> None:
        """Keep up to ``batch`` messages delivered ahead of free slots, so a finished call is replaced
        without waiting for a fetch round trip. An empty buffer long-polls for one message."""
        while not self._stop.is_set():
            try:
                space = self._batch - len(queue.buffer)
                if space <= 0:
                    queue.drained.clear()
                    await queue.drained.wait()
                    continue
                if queue.buffer:
                    msgs = await self._fetch(queue, space, 0.2)
                else:
                    msgs = await self._fetch(queue, 1, self._idle_poll)
                for msg in msgs:
                    self._alive[id(msg)] = msg
                    queue.buffer.append(msg)
                if msgs:
                    queue.filled.set()
                elif queue.buffer:
                    # nothing more to prefetch now; wait for the dispatcher before asking again
                    queue.drained.clear()
                    await queue.drained.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("fetch from %s failed: %s", queue.key, exc)
                if await self._consumer_gone(queue):
                    await self._retire(queue)
                    return
                await sleep_or_stop(0.5, self._stop)

    async def _consumer_gone(self, queue: _FunctionQueue) -> bool:
        try:
            await self._js.consumer_info(
                self._layout.calls_stream, self._layout.consumer_name(queue.name, queue.namespace)
            )
        except NotFoundError:
            return True
        except Exception:
            return False  # NATS unreachable or slow: not a reason to give the consumer up
        return False

    async def _retire(self, queue: _FunctionQueue) -> None:
        """Forget a function whose consumer was deleted; discovery recreates it when calls are stored."""
        log.warning("consumer of %s is gone; it is recreated at the next discovery", queue.key)
        self._queues.pop(queue.key, None)
        current = asyncio.current_task()
        for task in queue.tasks:
            if task is not current:
                task.cancel()
        while queue.buffer:
            self._alive.pop(id(queue.buffer.popleft()), None)  # deliveries of the deleted consumer
        with contextlib.suppress(Exception):
            await queue.sub.unsubscribe()

    async def _dispatch_loop(self, queue: _FunctionQueue) -> None:
        """Start buffered messages as this function is granted slots (its fair share)."""
        while not self._stop.is_set():
            if not queue.buffer:
                queue.filled.clear()
                await queue.filled.wait()
                continue
            granted = await self.slots.acquire(queue.key, len(queue.buffer))
            for _ in range(granted):
                msg = queue.buffer.popleft()
                self._alive.pop(id(msg), None)
                self._spawn(queue, msg)
            queue.drained.set()

    async def _fetch(self, queue: _FunctionQueue, batch: int, wait: float) -> list[Msg]:
        if batch == 1:
            # a long poll; cancelling it leaves a delivered message in the inbox, where _withdraw finds it
            try:
                return await queue.sub.fetch(1, timeout=wait)
            except _FETCH_ERRORS:
                return []
        # a batch fetch takes messages out of the inbox across several awaits: cancelling it would drop
        # them, so shutdown lets it end (it is short) and releases what it got
        fetch = asyncio.ensure_future(queue.sub.fetch(batch, timeout=wait))
        try:
            return await asyncio.shield(fetch)
        except asyncio.CancelledError:
            queue.prefetch = fetch
            raise
        except _FETCH_ERRORS:
            return []

    def _spawn(self, queue: _FunctionQueue, msg: Msg) -> None:
        key = _message_key(msg)
        if key in self._held:
            # Redelivered while this worker still runs it (ack-wait expired during a NATS outage): never
            # run it twice; settle this delivery the way the running one ends.
            self._held[key].append(msg)
            self._alive[id(msg)] = msg
            self.slots.release(1)
            self._processor.counters.duplicates_skipped += 1
            return
        if self._settled.holds(*key):
            # acknowledged here already; the server lost that state (restart) and delivered it afresh
            task = asyncio.create_task(msg.ack())
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            self.slots.release(1)
            self._processor.counters.duplicates_skipped += 1
            return
        self._held[key] = []
        task = asyncio.create_task(self._handle(queue, msg, key))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _handle(self, queue: _FunctionQueue, msg: Msg, key: _MessageKey) -> None:
        self._alive[id(msg)] = msg
        settlement: Settlement | None = None
        try:
            settlement = await self._processor.process(msg, name=queue.name, namespace=queue.namespace)
        except asyncio.CancelledError:
            # cut off by shutdown: hand it back (and any later delivery of it, below) for the next worker
            settlement = RELEASED
            await self._release(msg)
            raise
        except Exception as exc:
            self._processor.counters.errors += 1
            log.exception("call on %s failed before its outcome was recorded: %s", queue.key, exc)
            # not acked: JetStream redelivers once ack-wait expires (the record check avoids a rerun)
        finally:
            self._alive.pop(id(msg), None)
            self.slots.release(1)
            if settlement is not None and settlement.acked:
                self._settled.add(*key)
            for later in self._held.pop(key, []):
                self._alive.pop(id(later), None)
                if settlement is not None:
                    with contextlib.suppress(Exception):
                        await settlement.apply(later)

    async def _keep_alive(self) -> None:
        """One loop for every held message: an in-progress ack each third of the shortest ack wait."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            shortest = min((q.ack_wait for q in self._queues.values()), default=self._default_ack_wait)
            due = last + max(0.2, shortest / 3)
            self._retuned.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(due):
                    await self._retuned.wait()  # an ack wait changed: re-read the interval at once
            if loop.time() >= due:
                last = loop.time()
                await self._keep_held()

    async def _keep_held(self) -> None:
        for msg in list(self._alive.values()):
            if id(msg) not in self._alive:
                continue  # settled meanwhile: a late in-progress ack would delay its redelivery
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _shutdown(self) -> None:
        loops = [task for queue in self._queues.values() for task in queue.tasks]
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        queues = list(self._queues.values())
        for queue in queues:
            if queue.prefetch is not None:
                with contextlib.suppress(Exception):
                    queue.buffer.extend(await queue.prefetch)
        await self._withdraw(queues)
        for queue in queues:
            # delivered but never started: hand them back for immediate redelivery
            while queue.buffer:
                msg = queue.buffer.popleft()
                key = _message_key(msg)
                if key in self._held:
                    self._held[key].append(msg)  # another delivery of a running call: settled as it ends
                elif self._settled.holds(*key):
                    self._alive.pop(id(msg), None)
                    with contextlib.suppress(Exception):
                        await msg.ack()
                else:
                    await self._release(msg)
        if self._inflight:
            log.info("draining %d in-flight calls (up to %.0fs)", len(self._inflight), self._shutdown_timeout)
            _, pending = await asyncio.wait(set(self._inflight), timeout=self._shutdown_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            await self._flush()
        except Exception as exc:
            log.warning("NATS did not confirm the last acks and releases: %s", exc)
        if self.released:
            log.info("released %d calls for redelivery", self.released)

    async def _withdraw(self, queues: list[_FunctionQueue]) -> None:
        """Unsubscribe, so the server drops this worker's open pull requests (no interest left), and buffer
        what it delivered before that: those messages are this worker's to release."""
        for queue in queues:
            with contextlib.suppress(Exception):
                await queue.sub.unsubscribe()
        try:
            await self._flush()
        except Exception as exc:
            log.warning("NATS did not confirm the unsubscriptions: %s", exc)
        for queue in queues:
            try:
                async for msg in buffered_deliveries(queue.sub):
                    if msg.reply and msg.reply.startswith("$JS.ACK."):  # not a status message
                        self._alive[id(msg)] = msg
                        queue.buffer.append(msg)
            except Exception as exc:
                log.warning("could not collect the last deliveries to %s: %s", queue.key, exc)

    async def _release(self, msg: Msg) -> None:
        """Hand a held message back for immediate redelivery; durable even if NATS restarts next."""
        self._alive.pop(id(msg), None)
        with contextlib.suppress(Exception):
            await RELEASED.apply(msg)
            self.released += 1
