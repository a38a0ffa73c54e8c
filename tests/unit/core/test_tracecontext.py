"""W3C traceparent parsing and creation."""

from __future__ import annotations

import pytest

from pyfaas.core.tracecontext import child_of, ensure, new_traceparent, parse, trace_id_of

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_is_kept() -> None:
    assert ensure({"traceparent": VALID}) == (VALID, False)
    assert trace_id_of(VALID) == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        VALID + "-extra",  # version 00 has no more fields
    ],
)
def test_invalid_traceparents_are_replaced(value: str) -> None:
    assert parse(value) is None
    created, new = ensure({"traceparent": value})
    assert new and parse(created) is not None and created != value


def test_a_later_version_is_read_as_00() -> None:
    assert parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more") is not None


def test_created_ids_are_new_and_children_keep_the_trace() -> None:
    first, second = parse(new_traceparent()), parse(new_traceparent())
    assert first is not None and second is not None and first.trace_id != second.trace_id
    child = child_of(first)
    assert child.trace_id == first.trace_id and child.span_id != first.span_id
    assert parse(child.header()) == child
