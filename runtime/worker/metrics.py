"""The worker's Prometheus series, registered on the registry it is given (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["WorkerMetrics"]

_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
_RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.queue_depth = Gauge(
            "pyfaas_async_queue_depth",
            "Calls stored for a function: waiting, in flight or waiting for a retry",
            ["function"],
            registry=registry,
        )
        self.processed = Counter(
            "pyfaas_async_processed", "Calls that succeeded", ["function"], registry=registry
        )
        self.failed = Counter(
            "pyfaas_async_failed",
            "Calls that ended with a non-retryable error",
            ["function"],
            registry=registry,
        )
        self.retried = Counter(
            "pyfaas_async_retried",
            "Attempts that failed and were scheduled again",
            ["function"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "pyfaas_async_dead_lettered",
            "Calls moved to the dead-letter stream",
            ["function"],
            registry=registry,
        )
        self.duplicates = Counter(
            "pyfaas_async_duplicates_skipped",
            "Redeliveries of calls already finished, acknowledged without running again",
            ["function"],
            registry=registry,
        )
        self.possible_reruns = Counter(
            "pyfaas_async_possible_reruns",
            "Redeliveries run again although the earlier delivery may have run the function "
            "(its worker died or its ack-wait expired before an answer was stored)",
            ["function"],
            registry=registry,
        )
        self.callbacks = Counter(
            "pyfaas_async_callbacks", "Callback deliveries by result", ["result"], registry=registry
        )
        self.queue_wait = Histogram(
            "pyfaas_async_queue_wait_seconds",
            "Time from submission to the start of the first attempt",
            ["function"],
            buckets=_WAIT_BUCKETS,
            registry=registry,
        )
        self.run_time = Histogram(
            "pyfaas_async_run_seconds",
            "Duration of one attempt (gateway call)",
            ["function"],
            buckets=_RUN_BUCKETS,
            registry=registry,
        )
        self.inflight = Gauge("pyfaas_async_inflight", "Calls running now", registry=registry)
