"""W3C Trace Context (``traceparent``/``tracestate``): parse, create, and derive a child (pyfaas extension).

``traceparent`` is ``00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>``. The gateway forwards a
valid one it receives (with ``tracestate``) and creates one when there is none or it is invalid, so every
call reaching a function carries one; async calls keep it in the queued request's headers, and the worker's
call and the callback carry the same trace id. Kept small and free of third-party imports: the watchdog
imports it in every replica. Spans are exported only when OpenTelemetry is configured
(:mod:`pyfaas.core.telemetry`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "TraceParent",
    "child_of",
    "ensure",
    "new_traceparent",
    "parse",
    "trace_id_of",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_FORMAT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?", re.ASCII)
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class TraceParent(NamedTuple):
    trace_id: str
    span_id: str
    flags: str

    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def parse(value: str | None) -> TraceParent | None:
    """A valid ``traceparent`` (version 00, or a later version read as 00), or None."""
    if not value:
        return None
    match = _FORMAT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    if version == "00" and len(value.strip()) != 55:
        return None  # version 00 has no extra fields
    return TraceParent(trace_id, span_id, flags)


def _span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def new_traceparent(*, sampled: bool = True) -> str:
    """A new trace (ids from the process PRNG: they identify, they do not authenticate)."""
    return f"00-{random.getrandbits(128) or 1:032x}-{_span_id()}-{'01' if sampled else '00'}"


def child_of(parent: TraceParent) -> TraceParent:
    """The same trace with a new span id (the caller's hop)."""
    return TraceParent(parent.trace_id, _span_id(), parent.flags)


def ensure(headers: Mapping[str, str]) -> tuple[str, bool]:
    """The request's valid ``traceparent``, or a new one; and whether it was created here."""
    received = headers.get(TRACEPARENT)
    if received is not None and parse(received) is not None:
        return received, False
    return new_traceparent(), True


def trace_id_of(value: str | None) -> str | None:
    parsed = parse(value)
    return parsed.trace_id if parsed is not None else None
