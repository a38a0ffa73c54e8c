"""OpenFaaS label and annotation names, and the one place their values are parsed with defaults.

Scaling knobs are labels on the function (``com.openfaas.scale.*``); async retry overrides are annotations
(``com.openfaas.retry.*``). Invalid values fall back to defaults, as OpenFaaS does, except where noted.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pyfaas.core.durations import parse_duration

__all__ = [
    "ANNOTATION_RETRY_ATTEMPTS",
    "ANNOTATION_RETRY_CODES",
    "ANNOTATION_RETRY_MAX_WAIT",
    "ANNOTATION_RETRY_MIN_WAIT",
    "DEFAULT_MAX_REPLICAS",
    "DEFAULT_MIN_REPLICAS",
    "DEFAULT_SCALE_FACTOR",
    "DEFAULT_ZERO_DURATION",
    "LABEL_FUNCTION",
    "LABEL_MANAGED_BY",
    "LABEL_SCALE_FACTOR",
    "LABEL_SCALE_MAX",
    "LABEL_SCALE_MIN",
    "LABEL_SCALE_TARGET",
    "LABEL_SCALE_TARGET_PROPORTION",
    "LABEL_SCALE_TYPE",
    "LABEL_SCALE_ZERO",
    "LABEL_SCALE_ZERO_DURATION",
    "MANAGED_BY_VALUE",
    "RetryPolicy",
    "ScalingPolicy",
    "retry_policy",
    "scaling_policy",
]

LABEL_FUNCTION = "faas_function"
"""Selector label on every function workload (Deployment, Pod, process)."""
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "pyfaas"

LABEL_SCALE_MIN = "com.openfaas.scale.min"
LABEL_SCALE_MAX = "com.openfaas.scale.max"
LABEL_SCALE_FACTOR = "com.openfaas.scale.factor"
LABEL_SCALE_ZERO = "com.openfaas.scale.zero"
LABEL_SCALE_ZERO_DURATION = "com.openfaas.scale.zero-duration"
LABEL_SCALE_TYPE = "com.openfaas.scale.type"
LABEL_SCALE_TARGET = "com.openfaas.scale.target"
LABEL_SCALE_TARGET_PROPORTION = "com.openfaas.scale.target-proportion"

ANNOTATION_RETRY_ATTEMPTS = "com.openfaas.retry.attempts"
ANNOTATION_RETRY_CODES = "com.openfaas.retry.codes"
ANNOTATION_RETRY_MIN_WAIT = "com.openfaas.retry.min_wait"
ANNOTATION_RETRY_MAX_WAIT = "com.openfaas.retry.max_wait"

DEFAULT_MIN_REPLICAS = 1
DEFAULT_MAX_REPLICAS = 20  # OpenFaaS Pro's default; CE's hard ceiling of 5 is deliberately dropped
DEFAULT_SCALE_FACTOR = 20
DEFAULT_ZERO_DURATION = 15 * 60.0
DEFAULT_TARGET = {"rps": 50.0, "capacity": 10.0}
DEFAULT_TARGET_PROPORTION = 0.9

ScaleType = Literal["rps", "capacity", "cpu"]


def _int_label(labels: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    try:
        value = int(labels.get(key, ""))
    except ValueError:
        return default
    return value if low <= value <= high else default


def _float_label(labels: Mapping[str, str], key: str, default: float) -> float:
    try:
        value = float(labels.get(key, ""))
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    """Scaling knobs of one function, read from its labels."""

    min_replicas: int = DEFAULT_MIN_REPLICAS
    max_replicas: int = DEFAULT_MAX_REPLICAS
    factor: int = DEFAULT_SCALE_FACTOR
    zero: bool = False
    zero_duration: float | None = None
    """Idle seconds before scale to zero; None means "use the idler's inactivity_duration"."""
    scale_type: ScaleType | None = None
    target: float | None = None
    target_proportion: float = DEFAULT_TARGET_PROPORTION

    def clamp(self, replicas: int) -> int:
        """Clamp a requested replica count to [0, max] (0 is allowed: scale to zero)."""
        return max(0, min(replicas, self.max_replicas))

    def alert_step(self) -> int:
        """Replicas added per firing alert: ceil(max * factor / 100), as OpenFaaS computes it."""
        return math.ceil(self.max_replicas * self.factor / 100)

    def desired_for_load(self, load: float) -> int:
        """Target tracking: ceil(load / (target * proportion)) within [min, max]."""
        if self.scale_type is None or self.target is None:
            return self.min_replicas
        if math.isnan(load) or load <= 0:
            return self.min_replicas
        ratio = load / (self.target * self.target_proportion)
        # An infinite load (or a tiny target) overflows ceil(); it simply means "as many as allowed".
        wanted = math.ceil(ratio) if math.isfinite(ratio) else self.max_replicas
        return max(self.min_replicas, min(wanted, self.max_replicas))


def scaling_policy(labels: Mapping[str, str] | None) -> ScalingPolicy:
    """Parse the ``com.openfaas.scale.*`` labels; bad values fall back to defaults."""
    labels = labels or {}
    minimum = _int_label(labels, LABEL_SCALE_MIN, DEFAULT_MIN_REPLICAS, 0, 10_000)
    maximum = _int_label(labels, LABEL_SCALE_MAX, DEFAULT_MAX_REPLICAS, 1, 10_000)
    maximum = max(maximum, minimum)
    factor = _int_label(labels, LABEL_SCALE_FACTOR, DEFAULT_SCALE_FACTOR, 0, 100)
    zero = labels.get(LABEL_SCALE_ZERO, "").strip().lower() in {"true", "1"}
    zero_duration: float | None = None
    if raw := labels.get(LABEL_SCALE_ZERO_DURATION):
        try:
            zero_duration = parse_duration(raw)
        except ValueError:
            zero_duration = None
    scale_type: ScaleType | None = None
    raw_type = labels.get(LABEL_SCALE_TYPE, "").strip().lower()
    if raw_type in ("rps", "capacity", "cpu"):
        scale_type = raw_type  # type: ignore[assignment]
    target: float | None = None
    if scale_type is not None:
        target = _float_label(labels, LABEL_SCALE_TARGET, DEFAULT_TARGET.get(scale_type, 50.0))
    proportion = _float_label(labels, LABEL_SCALE_TARGET_PROPORTION, DEFAULT_TARGET_PROPORTION)
    return ScalingPolicy(
        min_replicas=minimum,
        max_replicas=maximum,
        factor=factor,
        zero=zero,
        zero_duration=zero_duration,
        scale_type=scale_type,
        target=target,
        target_proportion=min(proportion, 1.0),
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Async retry settings after per-function annotation overrides."""

    attempts: int
    codes: frozenset[int]
    min_wait: float
    max_wait: float


def retry_policy(annotations: Mapping[str, str] | None, default: RetryPolicy) -> RetryPolicy:
    """Apply ``com.openfaas.retry.*`` annotation overrides to the worker's defaults."""
    annotations = annotations or {}
    attempts = default.attempts
    if raw := annotations.get(ANNOTATION_RETRY_ATTEMPTS):
        with contextlib.suppress(ValueError):
            attempts = max(1, int(raw))
    codes = default.codes
    if raw := annotations.get(ANNOTATION_RETRY_CODES):
        with contextlib.suppress(ValueError):
            codes = frozenset(int(part) for part in raw.split(",") if part.strip())
    min_wait, max_wait = default.min_wait, default.max_wait
    for key in (ANNOTATION_RETRY_MIN_WAIT, ANNOTATION_RETRY_MAX_WAIT):
        if raw := annotations.get(key):
            try:
                value = parse_duration(raw)
            except ValueError:
                continue
            if key == ANNOTATION_RETRY_MIN_WAIT:
                min_wait = value
            else:
                max_wait = value
    return RetryPolicy(attempts=attempts, codes=codes, min_wait=min_wait, max_wait=max(max_wait, min_wait))
