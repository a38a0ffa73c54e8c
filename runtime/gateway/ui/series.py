"""Per-function time series for the portal's charts, sampled from the gateway's own Prometheus series.

Once a second the sampler reads ``gateway_function_invocation_total`` (by code) and the
``gateway_functions_seconds`` histogram, and keeps for each function the *difference* to the previous sample:
requests, server errors (code >= 500) and histogram bucket counts. A bounded ring (five minutes by default)
holds these deltas, so memory is fixed per function and nothing is computed on the request path.

Latency quantiles are estimated from the bucket deltas the way Prometheus' ``histogram_quantile`` does
(linear interpolation inside the bucket that holds the rank), over a short trailing window so that a second
with two requests does not make the line jump.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Histogram

__all__ = [
    "FunctionSummary",
    "SeriesPoint",
    "SeriesStore",
    "histogram_quantile",
    "run_sampler",
]

log = logging.getLogger("pyfaas.gateway.ui")

ERROR_CODE = 500
"""Completed invocations with a status at or above this count as errors (the function or the gateway
failed; 4xx answers are the caller's mistake)."""


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """What happened to one function between two samples."""

    at: float
    """Wall-clock time of the sample (Unix seconds)."""
    seconds: float
    """Length of the interval this point covers."""
    requests: float
    errors: float
    buckets: tuple[float, ...]
    """Non-cumulative count per histogram bucket (same order as the store's bounds)."""


@dataclass(frozen=True, slots=True)
class FunctionSummary:
    """A function's recent figures for the list page."""

    requests: float
    errors: float
    rate: float
    """Requests per second over the window."""
    error_ratio: float | None
    p50: float | None
    p99: float | None

    def wire(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "rate": round(self.rate, 4),
            "errorRatio": self.error_ratio,
            "p50": self.p50,
            "p99": self.p99,
        }


@dataclass(slots=True)
class _Totals:
    """Cumulative counts of one function at one sample."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    """Upper bound → cumulative count, summed over status codes."""


def histogram_quantile(quantile: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """The ``quantile`` of a histogram given per-bucket (non-cumulative) ``counts`` under upper ``bounds``.

    Like Prometheus: linear interpolation inside the bucket holding the rank, the first bucket starting at 0,
    and the lower bound of the last finite bucket when the rank falls into ``+Inf``. None without data.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = quantile * total
    seen = 0.0
    lower = 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count > 0 and seen + count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * ((rank - seen) / count)
        seen += count
        if not math.isinf(bound):
            lower = bound
    return lower


class SeriesStore:
    """Rings of recent :class:`SeriesPoint` per function (``name.namespace``), fed by :meth:`sample`."""

    def __init__(self, *, window_seconds: float = 300.0, interval: float = 1.0) -> None:
        self.interval = interval
        self.capacity = max(2, math.ceil(window_seconds / interval))
        self.bounds: tuple[float, ...] = ()
        self._rings: dict[str, deque[SeriesPoint]] = {}
        self._previous: dict[str, _Totals] = {}
        self._previous_at: float | None = None

    def functions(self) -> list[str]:
        return sorted(self._rings)

    def sample(self, invocations: Counter, durations: Histogram, *, at: float, monotonic: float) -> None:
        """Record one point per function from the current values of the gateway's series."""
        current = _read_totals(invocations, durations)
        bounds = sorted({bound for totals in current.values() for bound in totals.buckets})
        if bounds and tuple(bounds) != self.bounds:
            self.bounds = tuple(bounds)
        elapsed = self.interval if self._previous_at is None else max(1e-6, monotonic - self._previous_at)
        for function_name, totals in current.items():
            before = self._previous.get(function_name, _Totals())
            ring = self._rings.get(function_name)
            if ring is None:
                ring = self._rings[function_name] = deque(maxlen=self.capacity)
            ring.append(
                SeriesPoint(
                    at=at,
                    seconds=elapsed,
                    requests=_delta(totals.requests, before.requests),
                    errors=_delta(totals.errors, before.errors),
                    buckets=_bucket_deltas(self.bounds, totals.buckets, before.buckets),
                )
            )
        self._previous = current
        self._previous_at = monotonic

    def points(self, function_name: str, *, since: float = 0.0) -> list[SeriesPoint]:
        ring = self._rings.get(function_name)
        return [point for point in ring if point.at > since] if ring else []

    def series(self, function_name: str, *, seconds: float, smoothing: int = 5) -> dict[str, Any]:
        """Chart data: parallel lists ``t``, ``rps``, ``errorRatio``, ``p50``, ``p99`` (seconds; null when
        nothing completed in the trailing ``smoothing`` samples)."""
        points = self.points(function_name, since=time.time() - seconds)
        out: dict[str, list[Any]] = {"t": [], "rps": [], "errorRatio": [], "p50": [], "p99": []}
        window: deque[SeriesPoint] = deque(maxlen=max(1, smoothing))
        for point in points:
            window.append(point)
            out["t"].append(round(point.at, 3))
            out["rps"].append(round(point.requests / point.seconds, 4))
            out["errorRatio"].append(round(point.errors / point.requests, 4) if point.requests else None)
            counts = _sum_buckets(len(self.bounds), (p.buckets for p in window))
            out["p50"].append(_rounded(histogram_quantile(0.5, self.bounds, counts)))
            out["p99"].append(_rounded(histogram_quantile(0.99, self.bounds, counts)))
        return out

    def summary(self, function_name: str, *, seconds: float = 60.0) -> FunctionSummary:
        points = self.points(function_name, since=time.time() - seconds)
        requests = sum(point.requests for point in points)
        errors = sum(point.errors for point in points)
        covered = sum(point.seconds for point in points)
        counts = _sum_buckets(len(self.bounds), (point.buckets for point in points))
        return FunctionSummary(
            requests=requests,
            errors=errors,
            rate=requests / covered if covered else 0.0,
            error_ratio=errors / requests if requests else None,
            p50=_rounded(histogram_quantile(0.5, self.bounds, counts)),
            p99=_rounded(histogram_quantile(0.99, self.bounds, counts)),
        )


async def run_sampler(store: SeriesStore, invocations: Counter, durations: Histogram) -> AsyncIterator[None]:
    """A ``cleanup_ctx``-style generator body: sample every ``store.interval`` seconds until cancelled."""

    async def loop() -> None:
        while True:
            try:
                store.sample(invocations, durations, at=time.time(), monotonic=time.monotonic())
            except Exception as exc:  # a failed sample must not stop the charts
                log.debug("series sample failed: %s", exc)
            await asyncio.sleep(store.interval)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _read_totals(invocations: Counter, durations: Histogram) -> dict[str, _Totals]:
    totals: dict[str, _Totals] = {}
    for family in invocations.collect():
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            entry = totals.setdefault(sample.labels.get("function_name", ""), _Totals())
            entry.requests += sample.value
            if _is_error(sample.labels.get("code", "")):
                entry.errors += sample.value
    for family in durations.collect():
        for sample in family.samples:
            if not sample.name.endswith("_bucket"):
                continue
            entry = totals.setdefault(sample.labels.get("function_name", ""), _Totals())
            bound = float(sample.labels.get("le", "+Inf"))
            entry.buckets[bound] = entry.buckets.get(bound, 0.0) + sample.value
    totals.pop("", None)
    return totals


def _is_error(code: str) -> bool:
    try:
        return int(code) >= ERROR_CODE
    except ValueError:
        return False


def _delta(now: float, before: float) -> float:
    # A counter that went down was reset (a new registry); count from zero rather than going negative.
    return now - before if now >= before else now


def _bucket_deltas(
    bounds: Sequence[float], now: dict[float, float], before: dict[float, float]
) -> tuple[float, ...]:
    cumulative = [_delta(now.get(bound, 0.0), before.get(bound, 0.0)) for bound in bounds]
    out: list[float] = []
    previous = 0.0
    for value in cumulative:
        out.append(max(0.0, value - previous))
        previous = max(previous, value)
    return tuple(out)


def _sum_buckets(size: int, rows: Iterable[Sequence[float]]) -> list[float]:
    counts = [0.0] * size
    for row in rows:
        for index, value in enumerate(row[:size]):
            counts[index] += value
    return counts


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
