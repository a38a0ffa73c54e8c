"""The gateway's Prometheus series (OpenFaaS names) and the separate metrics app served on ``metrics_port``.

Per-function label children are resolved once and cached on the function's route (see
:class:`FunctionMetrics`), so an invocation costs a few dict lookups and lock-protected increments.
``function_name`` is always ``name.namespace``.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric

__all__ = ["FunctionMetrics", "GatewayMetrics", "create_metrics_app"]

STARTED = "gateway_function_invocation_started"
COLD_START_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    """All gateway series, registered in the app's own registry (never the global one)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.invocation_total = Counter(
            "gateway_function_invocation_total",
            "Completed synchronous function invocations",
            ["function_name", "code"],
            registry=registry,
        )
        self.functions_seconds = Histogram(
            "gateway_functions_seconds",
            "Duration of synchronous function invocations",
            ["function_name", "code"],
            registry=registry,
        )
        self.inflight = Gauge(
            "gateway_function_invocation_inflight",
            "Synchronous function invocations in progress",
            ["function_name"],
            registry=registry,
        )
        self.service_count = Gauge(
            "gateway_service_count",
            "Desired replicas of each function",
            ["function_name"],
            registry=registry,
        )
        self.cold_start_seconds = Histogram(
            "gateway_function_cold_start_seconds",
            "Time from a call finding no ready replica to a replica being ready (scale from zero)",
            ["function_name"],
            buckets=COLD_START_BUCKETS,
            registry=registry,
        )
        self.async_replays = Counter(
            "gateway_async_replays",
            "Repeated /function requests of an async call answered from the call ledger (not run again)",
            registry=registry,
        )
        self.async_replay_uncached = Counter(
            "gateway_async_replay_uncached",
            "Final answers of async calls the call ledger did not keep, by reason",
            ["reason"],
            registry=registry,
        )

        self._functions: dict[str, FunctionMetrics] = {}
        registry.register(_StartedCollector(self._functions))

    def function(self, function_name: str) -> FunctionMetrics:
        """The (cached) label children of ``function_name`` (``name.namespace``)."""
        found = self._functions.get(function_name)
        if found is None:
            found = self._functions[function_name] = FunctionMetrics(self, function_name)
        return found

    def invocation_count(self, function_name: str) -> int:
        """Completed invocations seen by this gateway (``invocationCount`` when Prometheus is not used)."""
        found = self._functions.get(function_name)
        return found.invocations if found else 0


class FunctionMetrics:
    """Label children of one function, resolved once; ``invocations`` mirrors the counter for listings."""

    __slots__ = ("_by_code", "_parent", "function_name", "in_flight", "invocations", "started")

    def __init__(self, parent: GatewayMetrics, function_name: str) -> None:
        self._parent = parent
        self.function_name = function_name
        self.in_flight = 0
        # Read when scraped: a plain int per call instead of two lock-protected gauge updates.
        parent.inflight.labels(function_name).set_function(lambda: float(self.in_flight))
        self.started = 0
        self.invocations = 0
        self._by_code: dict[int, tuple[Counter, Histogram]] = {}

    def begin(self) -> None:
        self.started += 1
        self.in_flight += 1

    def completed(self, code: int, seconds: float) -> None:
        self.in_flight -= 1
        children = self._by_code.get(code)
        if children is None:
            label = str(code)
            children = (
                self._parent.invocation_total.labels(self.function_name, label),
                self._parent.functions_seconds.labels(self.function_name, label),
            )
            self._by_code[code] = children
        children[0].inc()
        children[1].observe(seconds)
        self.invocations += 1

    def cold_start(self, seconds: float) -> None:
        self._parent.cold_start_seconds.labels(self.function_name).observe(seconds)


class _StartedCollector:
    """``gateway_function_invocation_started`` under exactly OpenFaaS's name.

    prometheus_client exposes every ``Counter`` with a ``_total`` suffix, which would rename this series; it
    is exposed as an untyped family instead (``rate()`` and ``increase()`` work the same on it).
    """

    def __init__(self, functions: dict[str, FunctionMetrics]) -> None:
        self._functions = functions

    def collect(self) -> Iterator[Metric]:
        family = Metric(STARTED, "Synchronous function invocations started", "unknown")
        for function_name, metrics in list(self._functions.items()):
            family.add_sample(STARTED, {"function_name": function_name}, float(metrics.started))
        yield family


def create_metrics_app(registry: CollectorRegistry) -> web.Application:
    """The listener on ``metrics_port``: ``GET /metrics`` (Prometheus text) and ``GET /healthz`` (``OK``)."""

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app
