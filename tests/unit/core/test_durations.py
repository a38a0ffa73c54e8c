"""Property tests for OpenFaaS duration parsing: bare integers are seconds, anything else a Go duration."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyfaas.core.durations import format_go_duration, parse_duration


@given(st.integers(min_value=0, max_value=10**12))
def test_bare_integer_is_seconds(seconds: int) -> None:
    assert parse_duration(str(seconds)) == float(seconds)
    assert parse_duration(f"  {seconds}\n") == float(seconds)


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_round_trips_milliseconds(millis: int) -> None:
    seconds = millis / 1000
    text = format_go_duration(seconds)
    assert math.isclose(parse_duration(text), seconds, rel_tol=1e-12, abs_tol=1e-12)


@given(st.integers(min_value=0, max_value=10**7))
def test_whole_seconds_format_as_hours_minutes_seconds(seconds: int) -> None:
    text = format_go_duration(float(seconds))
    assert re.fullmatch(r"((\d+h)?\d+m)?\d+s", text), text
    assert parse_duration(text) == float(seconds)


@given(
    hours=st.integers(0, 1000),
    minutes=st.integers(0, 59),
    secs=st.integers(0, 59),
    pad=st.booleans(),
)
def test_go_duration_components_add_up(hours: int, minutes: int, secs: int, pad: bool) -> None:
    fmt = "{:02d}" if pad else "{}"
    text = f"{hours}h{fmt.format(minutes)}m{fmt.format(secs)}s"
    assert parse_duration(text) == hours * 3600 + minutes * 60 + secs


@given(st.integers(0, 10**6), st.sampled_from(["ns", "us", "µs", "ms", "s", "m", "h"]))
def test_every_go_unit_parses(value: int, unit: str) -> None:
    scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
    assert math.isclose(parse_duration(f"{value}{unit}"), value * scale, rel_tol=1e-12)


def test_fractions_and_examples_from_the_contract() -> None:
    assert parse_duration("1m05s") == 65.0
    assert parse_duration("1.5h") == 5400.0
    assert parse_duration(".5s") == 0.5
    assert parse_duration("300ms") == pytest.approx(0.3)
    assert parse_duration("0") == 0.0
    assert format_go_duration(65) == "1m5s"
    assert format_go_duration(0) == "0s"
    assert format_go_duration(0.25) == "250ms"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "5x",
        "1m-5s",
        "-5s",
        "-1",
        "1.2.3s",
        "s",
        "5 s",
        "1e3s",
        "inf",
        "NaN",
        "+5",
        "٣",
        "٣s",
        "²",
    ],
)
def test_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.text(max_size=20))
def test_any_text_parses_to_a_non_negative_number_or_raises_value_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except ValueError:
        return
    assert value >= 0 and math.isfinite(value)


@given(st.from_regex(r"\A[0-9]*[a-zA-Z]+[0-9]*\Z"))
def test_words_that_are_not_units_are_rejected(text: str) -> None:
    if any(text.endswith(unit) for unit in ("ns", "us", "ms", "s", "m", "h")):
        return
    with pytest.raises(ValueError):
        parse_duration(text)
