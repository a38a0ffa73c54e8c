"""The portal's series: quantiles from histogram buckets, and per-second deltas of the gateway's counters."""

from __future__ import annotations

import math
import time

import pytest
from prometheus_client import CollectorRegistry

from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.gateway.ui.series import SeriesStore, histogram_quantile

BOUNDS = (0.01, 0.1, 1.0, math.inf)


def sample(store: SeriesStore, metrics: GatewayMetrics, *, at: float, monotonic: float) -> None:
    store.sample(metrics.invocation_total, metrics.functions_seconds, at=at, monotonic=monotonic)


def test_quantile_interpolates_inside_the_bucket_like_prometheus() -> None:
    # 10 observations in (0, 0.01], 10 in (0.01, 0.1]: the median is the top of the first bucket
    assert histogram_quantile(0.5, BOUNDS, [10, 10, 0, 0]) == pytest.approx(0.01)
    # rank 15 of 20 falls half-way into the second bucket
    assert histogram_quantile(0.75, BOUNDS, [10, 10, 0, 0]) == pytest.approx(0.055)
    # the first bucket starts at zero
    assert histogram_quantile(0.5, BOUNDS, [4, 0, 0, 0]) == pytest.approx(0.005)


def test_quantile_in_the_infinite_bucket_is_the_last_finite_bound() -> None:
    assert histogram_quantile(0.99, BOUNDS, [0, 0, 1, 9]) == 1.0


def test_quantile_without_observations_is_none() -> None:
    assert histogram_quantile(0.5, BOUNDS, [0, 0, 0, 0]) is None


def test_samples_hold_the_calls_between_two_samples() -> None:
    metrics = GatewayMetrics(CollectorRegistry())
    store = SeriesStore(window_seconds=60, interval=1.0)
    fn = metrics.function("hello.openfaas-fn")
    now = time.time()
    for code, seconds in ((200, 0.004), (200, 0.004), (500, 0.3)):
        fn.begin()
        fn.completed(code, seconds)
    sample(store, metrics, at=now - 2, monotonic=100.0)
    for _ in range(4):
        fn.begin()
        fn.completed(200, 0.02)
    sample(store, metrics, at=now - 1, monotonic=102.0)

    first, second = store.points("hello.openfaas-fn")
    assert (first.requests, first.errors) == (3, 1)
    assert (second.requests, second.errors, second.seconds) == (4, 0, 2.0)
    assert sum(second.buckets) == 4

    lines = store.series("hello.openfaas-fn", seconds=60)
    assert lines["rps"] == [3.0, 2.0]  # the first point covers one interval, the second two seconds
    assert lines["errorRatio"] == [pytest.approx(1 / 3, abs=1e-4), 0.0]
    assert lines["p50"][0] is not None and lines["p50"][0] <= 0.005
    assert lines["p99"][0] is not None and 0.25 <= lines["p99"][0] <= 0.5

    summary = store.summary("hello.openfaas-fn", seconds=60)
    assert (summary.requests, summary.errors) == (7, 1)
    assert summary.error_ratio == pytest.approx(1 / 7)
    assert summary.rate == pytest.approx(7 / 3)


def test_a_quiet_function_gets_zero_rate_and_no_latency() -> None:
    metrics = GatewayMetrics(CollectorRegistry())
    store = SeriesStore(window_seconds=60, interval=1.0)
    fn = metrics.function("quiet.openfaas-fn")
    fn.begin()
    fn.completed(200, 0.01)
    now = time.time()
    sample(store, metrics, at=now - 10, monotonic=1.0)
    for step in range(1, 8):
        sample(store, metrics, at=now - 10 + step, monotonic=1.0 + step)
    lines = store.series("quiet.openfaas-fn", seconds=60, smoothing=5)
    assert lines["rps"][1:] == [0.0] * 7
    assert lines["errorRatio"][1:] == [None] * 7
    # the smoothing window still holds the call for four more samples, then the latency line stops
    assert all(value is not None for value in lines["p50"][:5])
    assert lines["p50"][5:] == [None, None, None]


def test_the_ring_is_bounded_and_old_points_leave_the_window() -> None:
    metrics = GatewayMetrics(CollectorRegistry())
    store = SeriesStore(window_seconds=5, interval=1.0)
    fn = metrics.function("busy.openfaas-fn")
    now = time.time()
    for step in range(20):
        fn.begin()
        fn.completed(200, 0.01)
        sample(store, metrics, at=now - 20 + step, monotonic=float(step))
    assert len(store.points("busy.openfaas-fn")) == 5
    assert store.series("busy.openfaas-fn", seconds=2.5)["t"] == [round(now - 2, 3), round(now - 1, 3)]
    assert store.functions() == ["busy.openfaas-fn"]
