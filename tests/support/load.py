"""A bounded load generator for sync and async traffic, recording every request's outcome and latency.

``LoadGenerator(target).run(duration)`` paces requests at ``target.rate`` per second (a share
``target.async_share`` of them to ``/async-function/``) over ``target.connections`` clients, each with at most
one request open (as wrk2 does: bounded concurrency, bounded connections, constant throughput while the
platform keeps up; requests that could not go out on time are counted in ``late``). Each request is bounded by
a client timeout (``target.timeout``): one that gets no answer in time is recorded as ``error == "timeout"``
(a hang). Connection failures are recorded by kind (``refused``, ``disconnected``, ...), so a test can tell a
fast failure from a hang. ``burst()`` measures the highest closed-loop rate (the same clients, back to back).

The summaries (``windows``, ``recovery_after``, ``percentile``) are pure functions of the outcome list."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiohttp

__all__ = [
    "BurstResult",
    "LoadGenerator",
    "LoadTarget",
    "Outcome",
    "Window",
    "burst",
    "percentile",
    "recovery_after",
    "windows",
]

Kind = Literal["sync", "async"]
LATE_AFTER = 0.5


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Kind
    started: float
    """Seconds since the generator started (monotonic clock)."""
    latency: float
    """Seconds until the answer (or the failure, or the client timeout)."""
    status: int
    """HTTP status; 0 when no response arrived."""
    error: str = ""
    """'' when a response arrived; else ``timeout`` (no answer within the client timeout: a hang),
    ``refused``, ``disconnected``, ``reset`` or the exception's class name."""
    call_id: str = ""
    """``X-Call-Id`` of an accepted async call."""

    @property
    def ok(self) -> bool:
        return self.status == (202 if self.kind == "async" else 200)

    @property
    def hung(self) -> bool:
        return self.error == "timeout"


@dataclass(frozen=True, slots=True)
class LoadTarget:
    base_url: str
    sync_path: str
    """E.g. ``/function/echo``."""
    async_path: str = ""
    """E.g. ``/async-function/echo``; empty: sync traffic only."""
    rate: float = 50.0
    """Requests per second, sync and async together."""
    async_share: float = 0.0
    """Fraction of the requests sent to ``async_path``."""
    timeout: float = 5.0
    """Client timeout of one request, in seconds (connect included)."""
    connections: int = 32
    """Clients, each with at most one request open: the bound on concurrency and connections."""
    body: bytes = b"ping"
    async_headers: Mapping[str, str] = field(default_factory=dict)
    """Extra headers of async submissions (e.g. ``X-Callback-Url``)."""

    def kind_of(self, index: int) -> Kind:
        """Request ``index``'s kind: async for an even spread of ``async_share`` of the indices."""
        if self.async_path and math.floor((index + 1) * self.async_share) > math.floor(
            index * self.async_share
        ):
            return "async"
        return "sync"


def _classify(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "refused"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "disconnected"
    if isinstance(exc, aiohttp.ClientOSError):
        return "reset"
    return type(exc).__name__


class LoadGenerator:
    """Rate-paced over a fixed set of clients (as wrk2 does); ``outcomes`` grows as requests finish."""

    def __init__(self, target: LoadTarget) -> None:
        self.target = target
        self.outcomes: list[Outcome] = []
        self.late = 0
        """Requests sent more than ``LATE_AFTER`` s after their turn: every client was still waiting for
        an answer, so the schedule slipped (the platform, or this client, could not keep the rate)."""
        self.origin = time.monotonic()

    def now(self) -> float:
        """Seconds since the generator was created, on the clock of ``Outcome.started``."""
        return time.monotonic() - self.origin

    @property
    def accepted_call_ids(self) -> list[str]:
        return [o.call_id for o in self.outcomes if o.kind == "async" and o.ok and o.call_id]

    async def run(self, duration: float, stop: asyncio.Event | None = None) -> None:
        """Send load for ``duration`` seconds (or until ``stop`` is set); returns when the last answer is in.

        Request ``i`` is due ``i / rate`` s after the start; the next free client sends it then (or at
        once, counted as late, when it is behind)."""
        target = self.target
        connector = aiohttp.TCPConnector(limit=target.connections)
        timeout = aiohttp.ClientTimeout(total=target.timeout)
        indices = itertools.count()
        began = time.monotonic()

        async def client(session: aiohttp.ClientSession) -> None:
            while True:
                index = next(indices)
                due = began + index / target.rate
                if due - began >= duration or (stop is not None and stop.is_set()):
                    return
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif -delay > LATE_AFTER:
                    self.late += 1
                if stop is not None and stop.is_set():
                    return
                await self._one(session, target.kind_of(index))

        async with aiohttp.ClientSession(target.base_url, connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(client(session) for _ in range(target.connections)))

    async def _one(self, session: aiohttp.ClientSession, kind: Kind) -> None:
        target = self.target
        started = self.now()
        path = target.async_path if kind == "async" else target.sync_path
        headers = dict(target.async_headers) if kind == "async" else {}
        status, error, call_id = 0, "", ""
        try:
            async with session.post(path, data=target.body, headers=headers) as response:
                await response.read()
                status = response.status
                call_id = response.headers.get("X-Call-Id", "") if kind == "async" else ""
        except Exception as exc:  # every failure is an outcome, never a crash of the generator
            error = _classify(exc)
        self.outcomes.append(Outcome(kind, started, self.now() - started, status, error, call_id))


@dataclass(frozen=True, slots=True)
class BurstResult:
    answered: int
    """Requests answered as expected (200 sync, 202 async)."""
    errors: int
    elapsed: float
    call_ids: list[str]
    """Accepted async calls (still to be run by the worker when the burst ends)."""

    @property
    def rate(self) -> float:
        return self.answered / self.elapsed if self.elapsed > 0 else 0.0


async def burst(target: LoadTarget, *, duration: float) -> BurstResult:
    """Closed loop: ``target.connections`` clients back to back for ``duration`` s, sync and async mixed as
    in ``target`` (its rate is ignored)."""
    answered = errors = 0
    call_ids: list[str] = []
    indices = itertools.count()
    connector = aiohttp.TCPConnector(limit=target.connections)
    async with aiohttp.ClientSession(target.base_url, connector=connector) as session:
        deadline = time.monotonic() + duration

        async def client() -> None:
            nonlocal answered, errors
            while time.monotonic() < deadline:
                path, headers, expected = target.sync_path, {}, 200
                if target.kind_of(next(indices)) == "async":
                    path, headers, expected = target.async_path, dict(target.async_headers), 202
                try:
                    async with session.post(path, data=target.body, headers=headers) as response:
                        await response.read()
                        if response.status != expected:
                            errors += 1
                            continue
                        answered += 1
                        if expected == 202:
                            call_ids.append(response.headers.get("X-Call-Id", ""))
                except aiohttp.ClientError:
                    errors += 1

        began = time.monotonic()
        await asyncio.gather(*(client() for _ in range(target.connections)))
        return BurstResult(answered, errors, time.monotonic() - began, call_ids)


# summaries -----------------------------------------------------------------------------------------
def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@dataclass(frozen=True, slots=True)
class Window:
    start: float
    count: int
    errors: int
    p50: float
    p99: float


def windows(outcomes: Iterable[Outcome], width: float, *, kind: Kind | None = None) -> list[Window]:
    """Outcomes grouped by start time into ``width``-second windows (latency percentiles of all answers)."""
    buckets: dict[int, list[Outcome]] = {}
    for outcome in outcomes:
        if kind is None or outcome.kind == kind:
            buckets.setdefault(int(outcome.started // width), []).append(outcome)
    result = []
    for index in sorted(buckets):
        group = buckets[index]
        latencies = [o.latency for o in group]
        result.append(
            Window(
                start=index * width,
                count=len(group),
                errors=sum(not o.ok for o in group),
                p50=percentile(latencies, 0.50),
                p99=percentile(latencies, 0.99),
            )
        )
    return result


def recovery_after(outcomes: Iterable[Outcome], moment: float, *, kind: Kind = "sync") -> float | None:
    """Seconds from ``moment`` to the start of the first request after which every request of ``kind``
    succeeded (0 when none failed after ``moment``); None when the last one still failed."""
    later = sorted((o for o in outcomes if o.kind == kind and o.started >= moment), key=lambda o: o.started)
    if not later:
        return None
    last_failure = max((i for i, o in enumerate(later) if not o.ok), default=-1)
    if last_failure == len(later) - 1:
        return None
    return max(0.0, later[last_failure + 1].started - moment)
