"""A bounded load generator for sync and async traffic, recording every request's outcome and latency.

``LoadGenerator(target).run(duration)`` paces requests open-loop at ``target.rate`` per second (a share
``target.async_share`` of them to ``/async-function/``), never more than ``target.max_inflight`` open at once
(a tick that would exceed it is counted in ``shed``, not sent), and bounds each request with a client timeout
(``target.timeout``): a request that gets no answer in time is recorded as ``error == "timeout"`` (a hang).
Connection failures are recorded by kind (``refused``, ``disconnected``, ...), so a test can tell a fast
failure from a hang. ``burst()`` measures the highest closed-loop rate (fixed concurrency, back to back).

The summaries (``windows``, ``recovery_after``, ``percentile``) are pure functions of the outcome list.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiohttp

__all__ = [
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
_TICK = 0.005


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
    max_inflight: int = 256
    body: bytes = b"ping"
    async_headers: Mapping[str, str] = field(default_factory=dict)
    """Extra headers of async submissions (e.g. ``X-Callback-Url``)."""


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
    """Open-loop, rate-paced, bounded; ``outcomes`` grows as requests finish."""

    def __init__(self, target: LoadTarget) -> None:
        self.target = target
        self.outcomes: list[Outcome] = []
        self.shed = 0
        """Requests not sent because ``max_inflight`` were still open (the client's bound)."""
        self.origin = time.monotonic()
        self._inflight: set[asyncio.Task[None]] = set()

    def now(self) -> float:
        """Seconds since the generator was created, on the clock of ``Outcome.started``."""
        return time.monotonic() - self.origin

    @property
    def accepted_call_ids(self) -> list[str]:
        return [o.call_id for o in self.outcomes if o.kind == "async" and o.ok and o.call_id]

    async def run(self, duration: float, stop: asyncio.Event | None = None) -> None:
        """Send load for ``duration`` seconds (or until ``stop`` is set), then wait for open requests."""
        target = self.target
        connector = aiohttp.TCPConnector(limit=target.max_inflight, force_close=False)
        timeout = aiohttp.ClientTimeout(total=target.timeout)
        async with aiohttp.ClientSession(target.base_url, connector=connector, timeout=timeout) as session:
            began = time.monotonic()
            sent = 0
            async_credit = 0.0
            while (elapsed := time.monotonic() - began) < duration and not (stop and stop.is_set()):
                due = math.floor(elapsed * target.rate) + 1 - sent
                for _ in range(max(0, due)):
                    sent += 1
                    async_credit += target.async_share
                    kind: Kind = "sync"
                    if target.async_path and async_credit >= 1.0:
                        async_credit -= 1.0
                        kind = "async"
                    if len(self._inflight) >= target.max_inflight:
                        self.shed += 1
                        continue
                    task = asyncio.create_task(self._one(session, kind))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                await asyncio.sleep(_TICK)
            if self._inflight:
                await asyncio.wait(set(self._inflight), timeout=target.timeout + 1.0)

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


async def burst(
    base_url: str, path: str, *, concurrency: int, duration: float, body: bytes = b"ping"
) -> tuple[float, int]:
    """Closed loop: ``concurrency`` clients back to back for ``duration`` s → (successes/s, errors)."""
    ok = errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url, connector=connector) as session:
        deadline = time.monotonic() + duration

        async def client() -> None:
            nonlocal ok, errors
            while time.monotonic() < deadline:
                try:
                    async with session.post(path, data=body) as response:
                        await response.read()
                        if response.status == 200:
                            ok += 1
                        else:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1

        began = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return ok / (time.monotonic() - began), errors


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
