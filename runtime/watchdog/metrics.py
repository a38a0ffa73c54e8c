"""Prometheus metrics with OpenFaaS's watchdog names, in a registry passed in (no global registry)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "WatchdogMetrics"]

_KNOWN_METHODS = frozenset({"get", "head", "post", "put", "patch", "delete", "options", "connect", "trace"})


class WatchdogMetrics:
    """``http_requests_total``, ``http_request_duration_seconds`` (by code and method) and
    ``http_requests_in_flight``; method labels are lower case as Go's promhttp writes them."""

    def __init__(self, registry: CollectorRegistry, in_flight: Callable[[], float]) -> None:
        self.registry = registry
        self._requests = Counter(
            "http_requests_total",
            "Function invocations by status code and method",
            ["code", "method"],
            registry=registry,
        )
        self._duration = Histogram(
            "http_request_duration_seconds",
            "Seconds spent serving function invocations",
            ["code", "method"],
            registry=registry,
        )
        gauge = Gauge("http_requests_in_flight", "Function invocations being served", registry=registry)
        gauge.set_function(in_flight)
        self._children: dict[tuple[int, str], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, status: int, seconds: float) -> None:
        key = (status, method)
        children = self._children.get(key)
        if children is None:
            label = method.lower()
            if label not in _KNOWN_METHODS:
                label = "other"
            children = (self._requests.labels(str(status), label), self._duration.labels(str(status), label))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
