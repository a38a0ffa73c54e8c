"""One timeout per function, and every component's own timeout derived from it (pyfaas extension).

A function declares ``com.openfaas.timeout`` (a Go duration or seconds, e.g. ``"90s"``) as an annotation, or
``timeout=`` in a ``functions.py``. From that one value ``T``:

==========================  ==================  ============================================================
component                   value               why
==========================  ==================  ============================================================
gateway upstream            ``T``               the gateway is the one that answers: 504 JSON naming both
watchdog ``exec_timeout``   ``T + g``           a backstop that frees the replica just after the gateway
watchdog ``write_timeout``  ``T + 2g``          the watchdog may still write what the function produced
watchdog ``read_timeout``   ``T + 2g``          (the same bound for reading the request)
worker call                 ``T + 3g``          the gateway's 504 reaches the worker before its own limit
worker ``ack_wait``         ``T + 4g``          JetStream redelivers only once the call cannot be running
worker in-progress acks     every ``ack_wait/3`` hold the message around the call (slot wait, recording)
callback POST               ``T + 3g``          the call's limit, as OpenFaaS's queue-worker (at least 30 s)
==========================  ==================  ============================================================

with the grace ``g = clamp(T / 10, 0.5 s, 5 s)``. OpenFaaS's own variables set explicitly still win over the
derived ones: ``exec_timeout``, ``write_timeout``, ``read_timeout`` in a function's ``envVars``, and the
worker's ``ack_wait`` and ``callback_timeout`` in its environment (for every function).

Imported by the watchdog's providers and the worker; no pydantic here (kept small).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyfaas.core.durations import format_go_duration, parse_duration
from pyfaas.core.errors import PyfaasError, ValidationFailed

__all__ = [
    "ANNOTATION_TIMEOUT",
    "TIMEOUT_HEADER",
    "WATCHDOG_VARIABLES",
    "DerivedTimeouts",
    "FunctionTimedOut",
    "declared_timeout",
    "derive",
    "validate_timeout_annotation",
    "watchdog_env",
]

ANNOTATION_TIMEOUT = "com.openfaas.timeout"
TIMEOUT_HEADER = "X-Pyfaas-Timeout"
"""On a 504 the gateway produced because a call passed its function's timeout: the limit (Go duration)."""
WATCHDOG_VARIABLES = ("exec_timeout", "write_timeout", "read_timeout")

_MIN_GRACE = 0.5
_MAX_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class DerivedTimeouts:
    function: float
    grace: float
    gateway_upstream: float
    watchdog_exec: float
    watchdog_write: float
    watchdog_read: float
    worker_call: float
    worker_ack_wait: float
    callback: float


def derive(timeout: float) -> DerivedTimeouts:
    grace = min(_MAX_GRACE, max(_MIN_GRACE, timeout / 10))
    return DerivedTimeouts(
        function=timeout,
        grace=grace,
        gateway_upstream=timeout,
        watchdog_exec=timeout + grace,
        watchdog_write=timeout + 2 * grace,
        watchdog_read=timeout + 2 * grace,
        worker_call=timeout + 3 * grace,
        worker_ack_wait=timeout + 4 * grace,
        callback=timeout + 3 * grace,
    )


def _parse(raw: str) -> float:
    seconds = parse_duration(raw)
    if not seconds > 0:
        raise ValueError("must be greater than 0")
    return seconds


def declared_timeout(annotations: Mapping[str, str] | None) -> float | None:
    """The function's declared timeout in seconds, or None (absent or unreadable: the defaults apply)."""
    raw = (annotations or {}).get(ANNOTATION_TIMEOUT)
    if raw is None:
        return None
    try:
        return _parse(raw)
    except ValueError:
        return None


def validate_timeout_annotation(annotations: Mapping[str, str] | None) -> None:
    """At deploy: a present but unreadable timeout is a 400 naming the annotation."""
    raw = (annotations or {}).get(ANNOTATION_TIMEOUT)
    if raw is None:
        return
    try:
        _parse(raw)
    except ValueError as exc:
        raise ValidationFailed(
            f"annotation {ANNOTATION_TIMEOUT}={raw!r}: {exc} (e.g. 30s, 2m, 1500ms)",
            field=f"annotations.{ANNOTATION_TIMEOUT}",
        ) from None


def watchdog_env(annotations: Mapping[str, str] | None, env_vars: Mapping[str, str] | None) -> dict[str, str]:
    """The watchdog variables a provider sets for a function with a declared timeout, minus those the
    function's own ``envVars`` set (explicit OpenFaaS variables win)."""
    timeout = declared_timeout(annotations)
    if timeout is None:
        return {}
    derived = derive(timeout)
    values = {
        "exec_timeout": derived.watchdog_exec,
        "write_timeout": derived.watchdog_write,
        "read_timeout": derived.watchdog_read,
    }
    explicit = env_vars or {}
    return {name: format_go_duration(value) for name, value in values.items() if name not in explicit}


class FunctionTimedOut(PyfaasError):
    """A call passed its function's timeout: 504 with the function and the limit in the JSON body."""

    status = 504

    def __init__(self, function: str, limit: float) -> None:
        self.function = function
        self.limit = limit
        self.limit_text = format_go_duration(limit)
        super().__init__(f"function {function} did not answer within its timeout of {self.limit_text}")

    def to_json(self) -> dict[str, str]:
        return {"error": self.message, "function": self.function, "timeout": self.limit_text}
