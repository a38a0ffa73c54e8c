"""The scaling controller's own Prometheus series, in a registry passed in (never the global one)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["IdlerMetrics"]


class IdlerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.reconciles = Counter("idler_reconcile_total", "Reconcile rounds run", registry=registry)
        self.reconcile_errors = Counter(
            "idler_reconcile_errors_total",
            "Reconcile rounds that failed (gateway or metrics unreachable)",
            registry=registry,
        )
        self.reconcile_seconds = Histogram(
            "idler_reconcile_seconds", "Duration of one reconcile round", registry=registry
        )
        self.scalings = Counter(
            "idler_scale_total",
            "Scaling decisions (applied, or only logged in dry-run), by reason: idle, up, down",
            ["function_name", "reason"],
            registry=registry,
        )
        self.scale_errors = Counter(
            "idler_scale_errors_total",
            "Scale requests the gateway refused",
            ["function_name"],
            registry=registry,
        )
        self.idle_seconds = Gauge(
            "idler_function_idle_seconds",
            "Seconds since the last observed invocation (functions with com.openfaas.scale.zero=true)",
            ["function_name"],
            registry=registry,
        )
        self.load = Gauge(
            "idler_function_load",
            "Load used by target tracking: requests per second (rps) or average in-flight (capacity)",
            ["function_name"],
            registry=registry,
        )
        self.desired = Gauge(
            "idler_desired_replicas",
            "Replicas target tracking wants after stabilisation",
            ["function_name"],
            registry=registry,
        )
        self.dry_run = Gauge("idler_dry_run", "1 when decisions are only logged", registry=registry)

    def forget_except(self, present: Iterable[str]) -> None:
        """Remove the per-function gauges of functions that no longer exist."""
        keep = set(present)
        for gauge in (self.idle_seconds, self.load, self.desired):
            for labels in [labels for labels in _label_values(gauge) if labels[0] not in keep]:
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)


def _label_values(gauge: Gauge) -> list[tuple[str, ...]]:
    return [
        tuple(sample.labels[name] for name in ("function_name",))
        for metric in gauge.collect()
        for sample in metric.samples
    ]
