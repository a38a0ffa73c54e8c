"""Label parsing never raises: garbage falls back to defaults, and the scaling maths stays within bounds."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from pyfaas.core import labels as L

SCALE_KEYS = [
    L.LABEL_SCALE_MIN,
    L.LABEL_SCALE_MAX,
    L.LABEL_SCALE_FACTOR,
    L.LABEL_SCALE_ZERO,
    L.LABEL_SCALE_ZERO_DURATION,
    L.LABEL_SCALE_TYPE,
    L.LABEL_SCALE_TARGET,
    L.LABEL_SCALE_TARGET_PROPORTION,
]
VALUES = st.one_of(
    st.text(max_size=10),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["rps", "capacity", "cpu", "true", "false", "1", "0", "15m", "-1", "1e400", "nan"]),
)
LABEL_MAPS = st.dictionaries(st.sampled_from(SCALE_KEYS) | st.text(max_size=5), VALUES, max_size=10)
LOADS = st.floats(allow_nan=True, allow_infinity=True)


@given(LABEL_MAPS)
def test_scaling_policy_never_raises_and_is_consistent(labels: dict[str, str]) -> None:
    policy = L.scaling_policy(labels)
    assert 0 <= policy.min_replicas <= policy.max_replicas
    assert policy.max_replicas >= 1
    assert 0 <= policy.factor <= 100
    assert 0 < policy.target_proportion <= 1
    assert policy.zero_duration is None or policy.zero_duration >= 0
    if policy.scale_type is None:
        assert policy.target is None
    else:
        assert policy.target is not None and math.isfinite(policy.target) and policy.target > 0
    assert 0 <= policy.alert_step() <= policy.max_replicas


@given(LABEL_MAPS, st.integers(-(10**6), 10**6))
def test_clamp_stays_within_zero_and_max(labels: dict[str, str], replicas: int) -> None:
    policy = L.scaling_policy(labels)
    clamped = policy.clamp(replicas)
    assert 0 <= clamped <= policy.max_replicas
    if 0 <= replicas <= policy.max_replicas:
        assert clamped == replicas


@given(LABEL_MAPS, LOADS)
def test_desired_for_load_stays_within_min_and_max(labels: dict[str, str], load: float) -> None:
    policy = L.scaling_policy({**labels, L.LABEL_SCALE_TYPE: "rps"})
    desired = policy.desired_for_load(load)
    assert policy.min_replicas <= desired <= policy.max_replicas


@given(st.floats(min_value=0, max_value=1e6), st.floats(min_value=0, max_value=1e6))
def test_desired_for_load_is_monotonic(first: float, second: float) -> None:
    policy = L.scaling_policy({L.LABEL_SCALE_TYPE: "capacity", L.LABEL_SCALE_MAX: "1000"})
    low, high = sorted((first, second))
    assert policy.desired_for_load(low) <= policy.desired_for_load(high)


def test_defaults_on_missing_or_garbage() -> None:
    for labels in (None, {}, {L.LABEL_SCALE_MIN: "x", L.LABEL_SCALE_MAX: "-3", L.LABEL_SCALE_FACTOR: "101"}):
        policy = L.scaling_policy(labels)
        assert policy.min_replicas == L.DEFAULT_MIN_REPLICAS
        assert policy.max_replicas == L.DEFAULT_MAX_REPLICAS
        assert policy.factor == L.DEFAULT_SCALE_FACTOR
        assert policy.zero is False
        assert policy.scale_type is None


def test_openfaas_examples() -> None:
    policy = L.scaling_policy(
        {
            L.LABEL_SCALE_MIN: "0",
            L.LABEL_SCALE_MAX: "30",
            L.LABEL_SCALE_FACTOR: "10",
            L.LABEL_SCALE_ZERO: "true",
            L.LABEL_SCALE_ZERO_DURATION: "5m",
            L.LABEL_SCALE_TYPE: "capacity",
            L.LABEL_SCALE_TARGET: "5",
            L.LABEL_SCALE_TARGET_PROPORTION: "0.5",
        }
    )
    assert (policy.min_replicas, policy.max_replicas, policy.factor) == (0, 30, 10)
    assert policy.zero is True and policy.zero_duration == 300.0
    assert policy.alert_step() == 3  # ceil(30 * 10 / 100)
    assert policy.desired_for_load(0) == 0
    assert policy.desired_for_load(10) == 4  # ceil(10 / (5 * 0.5))
    assert policy.desired_for_load(1e9) == 30
    assert policy.clamp(50) == 30
    # min above max: max is raised to min rather than inverting the range
    assert L.scaling_policy({L.LABEL_SCALE_MIN: "8", L.LABEL_SCALE_MAX: "3"}).max_replicas == 8


DEFAULT_RETRY = L.RetryPolicy(attempts=10, codes=frozenset({429, 503}), min_wait=10.0, max_wait=120.0)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                L.ANNOTATION_RETRY_ATTEMPTS,
                L.ANNOTATION_RETRY_CODES,
                L.ANNOTATION_RETRY_MIN_WAIT,
                L.ANNOTATION_RETRY_MAX_WAIT,
            ]
        ),
        VALUES,
    )
)
def test_retry_policy_never_raises_and_stays_ordered(annotations: dict[str, str]) -> None:
    policy = L.retry_policy(annotations, DEFAULT_RETRY)
    assert policy.attempts >= 1
    assert 0 <= policy.min_wait <= policy.max_wait


def test_retry_overrides() -> None:
    policy = L.retry_policy(
        {
            L.ANNOTATION_RETRY_ATTEMPTS: "3",
            L.ANNOTATION_RETRY_CODES: "500, 502",
            L.ANNOTATION_RETRY_MIN_WAIT: "2s",
            L.ANNOTATION_RETRY_MAX_WAIT: "1m",
        },
        DEFAULT_RETRY,
    )
    assert policy == L.RetryPolicy(attempts=3, codes=frozenset({500, 502}), min_wait=2.0, max_wait=60.0)
    assert L.retry_policy({L.ANNOTATION_RETRY_ATTEMPTS: "many"}, DEFAULT_RETRY) == DEFAULT_RETRY
