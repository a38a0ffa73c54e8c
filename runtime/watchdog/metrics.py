"""Prometheus metrics with OpenFaaS's watchdog names, in a registry passed in (no global registry).

``http_requests_total`` and ``http_request_duration_seconds`` (by ``code`` and lower-case ``method``, as
Go's promhttp writes them) and ``http_requests_in_flight``. Observations are plain list updates on the
event loop; the Prometheus families are built only when scraped.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

__all__ = ["BUCKETS", "CONTENT_TYPE_LATEST", "WatchdogMetrics"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""prometheus-client's (and Go's) default histogram buckets; +Inf is implied."""
_KNOWN_METHODS = frozenset({"get", "head", "post", "put", "patch", "delete", "options", "connect", "trace"})


class _Series:
    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)


class WatchdogMetrics(Collector):
    def __init__(self, registry: CollectorRegistry, in_flight: Callable[[], float]) -> None:
        self.registry = registry
        self._in_flight = in_flight
        self._series: dict[tuple[int, str], _Series] = {}
        registry.register(self)

    def observe(self, method: str, status: int, seconds: float) -> None:
        key = (status, method)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        series.count += 1
        series.total += seconds
        series.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "http_requests", "Function invocations by status code and method", labels=["code", "method"]
        )
        duration = HistogramMetricFamily(
            "http_request_duration_seconds",
            "Seconds spent serving function invocations",
            labels=["code", "method"],
        )
        merged: dict[tuple[str, str], _Series] = {}
        for (status, method), series in list(self._series.items()):
            label = method.lower()
            if label not in _KNOWN_METHODS:
                label = "other"
            target = merged.setdefault((str(status), label), _Series())
            target.count += series.count
            target.total += series.total
            target.buckets = [a + b for a, b in zip(target.buckets, series.buckets, strict=True)]
        for labels, series in sorted(merged.items()):
            requests.add_metric(list(labels), series.count)
            cumulative = 0
            points: list[tuple[str, float]] = []
            for bound, count in zip((*BUCKETS, float("inf")), series.buckets, strict=True):
                cumulative += count
                points.append((str(bound) if bound != float("inf") else "+Inf", cumulative))
            duration.add_metric(list(labels), points, series.total)
        yield requests
        yield duration
        yield GaugeMetricFamily(
            "http_requests_in_flight", "Function invocations being served", self._in_flight()
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
