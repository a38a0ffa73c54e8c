"""Queue-worker configuration, read once in ``__main__`` with OpenFaaS Pro's environment names.

Retry names follow the Pro JetStream queue-worker (``max_retry_attempts``, ``max_retry_wait``,
``initial_retry_wait``, ``retry_http_codes``); the gateway address accepts Pro's ``gateway_url`` or CE's
``faas_gateway_address``/``faas_gateway_port``.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field

from pyfaas.core.labels import RetryPolicy
from pyfaas.core.queue_layout import QueueSettings
from pyfaas.core.settings import CsvInts, Duration

__all__ = ["DEFAULT_ACK_WAIT", "DEFAULT_CALLBACK_TIMEOUT", "DEFAULT_RETRY_CODES", "WorkerSettings"]

DEFAULT_RETRY_CODES = [408, 429, 500, 502, 503, 504]
DEFAULT_ACK_WAIT = 60.0
"""A function's consumer's ack wait when neither ``ack_wait`` nor the function's timeout says otherwise."""
DEFAULT_CALLBACK_TIMEOUT = 30.0


class WorkerSettings(QueueSettings):
    gateway_url: str | None = None
    """Base URL of the gateway whose ``/function/<name>`` the worker calls (Pro name)."""
    faas_gateway_address: str = "gateway"
    faas_gateway_port: int = 8080
    max_inflight: int = Field(50, ge=1)
    """Concurrent function calls across all functions."""
    ack_wait: Duration | None = None
    """Seconds JetStream waits for an ack before redelivering, for every function when set. Unset: each
    function's consumer gets the ack wait derived from its declared timeout (``pyfaas.core.timeouts``), or
    ``DEFAULT_ACK_WAIT``. Either way, held messages get in-progress acks every third of it."""
    max_retry_attempts: int = Field(10, ge=1)
    """Attempts (first call included) before a call is dead-lettered."""
    max_retry_wait: Duration = 120.0
    initial_retry_wait: Duration = 10.0
    retry_http_codes: CsvInts = Field(default_factory=lambda: list(DEFAULT_RETRY_CODES))
    upstream_timeout: Duration = 300.0
    """Longest single function call through the gateway."""
    consumer_pull_max_messages: int = Field(25, ge=1)
    """Largest batch fetched from one function's consumer at a time."""
    discovery_interval: Duration = 0.5
    """Seconds between scans of the work stream for functions with queued calls."""
    idle_poll: Duration = 5.0
    """Long-poll length on a function with nothing queued."""
    callback_max_attempts: int = Field(10, ge=1)
    callback_initial_wait: Duration = 1.0
    callback_max_wait: Duration = 60.0
    callback_timeout: Duration | None = None
    """Seconds a callback POST may take, for every call when set. Unset: ``DEFAULT_CALLBACK_TIMEOUT``, or the
    one derived from the function's declared timeout when that is longer."""
    callback_max_inflight: int = Field(20, ge=1)
    shutdown_timeout: Duration = 30.0
    """On SIGTERM: seconds to let in-flight calls finish before releasing them back to the stream."""
    metrics_port: int = 8081
    """Port of ``/metrics`` and ``/healthz`` (0 = ephemeral; -1 = off)."""
    metrics_host: str = "0.0.0.0"
    log_level: str = Field("INFO", validation_alias=AliasChoices("log_level", "LOG_LEVEL"))

    def base_ack_wait(self) -> float:
        """The callback consumer's ack wait, and that of functions without a declared timeout."""
        return DEFAULT_ACK_WAIT if self.ack_wait is None else self.ack_wait

    def gateway_base(self) -> str:
        if self.gateway_url:
            return self.gateway_url.rstrip("/")
        return f"http://{self.faas_gateway_address}:{self.faas_gateway_port}"

    def default_retry(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.max_retry_attempts,
            codes=frozenset(self.retry_http_codes),
            min_wait=self.initial_retry_wait,
            max_wait=max(self.max_retry_wait, self.initial_retry_wait),
        )
