"""Retry decisions and backoff arithmetic (pure).

The delay is handed to JetStream (``nak(delay=...)``) rather than slept in process, so a worker crash never
loses a pending retry.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from enum import StrEnum

from pyfaas.core.labels import RetryPolicy

__all__ = ["Outcome", "backoff_delay", "classify"]


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"
    DEAD = "dead-lettered"


def classify(*, status: int, internal: bool, attempt: int, policy: RetryPolicy) -> Outcome:
    """What to do with a call that answered ``status`` on attempt ``attempt`` (1-based).

    Retryable: a status in the policy's codes, or a platform-generated 5xx (``X-OpenFaaS-Internal``).
    Other non-2xx/3xx answers are the function's own final answer (``failed``).
    """
    if status < 400:
        return Outcome.SUCCEEDED
    retryable = status in policy.codes or (internal and status >= 500)
    if not retryable:
        return Outcome.FAILED
    return Outcome.RETRY if attempt < policy.attempts else Outcome.DEAD


def backoff_delay(
    attempt: int, *, min_wait: float, max_wait: float, rand: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with "equal jitter": half the capped delay fixed, half random.

    ``attempt`` is the attempt that just failed (1 → about ``min_wait``).
    """
    capped = min(max_wait, min_wait * 2.0 ** max(0, attempt - 1))
    return capped / 2 + rand() * capped / 2
