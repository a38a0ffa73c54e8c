"""The controller's pure memory: idle time from counter changes, and scale-down stabilisation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pyfaas.idler.decisions import ActivityTracker, Stabiliser
from pyfaas.idler.load import FunctionLoad


def test_idle_time_runs_from_the_last_counter_change() -> None:
    tracker = ActivityTracker()
    tracker.observe(0.0, {"fn.ns": FunctionLoad(started=5)})
    assert tracker.idle_for("fn.ns", 4.0) == 4.0
    tracker.observe(4.0, {"fn.ns": FunctionLoad(started=6)})
    assert tracker.idle_for("fn.ns", 10.0) == 6.0
    tracker.observe(10.0, {"fn.ns": FunctionLoad(started=6)})
    assert tracker.idle_for("fn.ns", 10.0) == 6.0


def test_in_flight_calls_are_activity() -> None:
    tracker = ActivityTracker()
    tracker.observe(0.0, {"fn.ns": FunctionLoad(started=1)})
    tracker.observe(30.0, {"fn.ns": FunctionLoad(started=1, busy=True)})
    assert tracker.idle_for("fn.ns", 31.0) == 1.0


def test_a_function_without_data_is_never_idle() -> None:
    tracker = ActivityTracker()
    tracker.observe(0.0, {})
    assert tracker.idle_for("fn.ns", 1000.0) == 0.0


def test_first_appearance_after_the_first_sample_is_activity() -> None:
    tracker = ActivityTracker()
    tracker.observe(0.0, {"other.ns": FunctionLoad(started=1)})
    tracker.observe(5.0, {"other.ns": FunctionLoad(started=1), "fn.ns": FunctionLoad(started=3)})
    assert tracker.idle_for("fn.ns", 5.0) == 0.0
    # ... but known-with-zero (deployed, never called) is not: its idle clock starts when first known.
    tracker.observe(6.0, {"new.ns": FunctionLoad(started=0)})
    assert tracker.idle_for("new.ns", 9.0) == 3.0


def test_a_counter_reset_is_activity_and_restarts_nothing_else() -> None:
    tracker = ActivityTracker()
    tracker.observe(0.0, {"fn.ns": FunctionLoad(started=50)})
    tracker.observe(10.0, {"fn.ns": FunctionLoad(started=0)})  # gateway restarted
    assert tracker.idle_for("fn.ns", 12.0) == 2.0


def test_woke_restarts_the_clock_and_forget_drops_functions() -> None:
    tracker = ActivityTracker()
    tracker.observe(0.0, {"fn.ns": FunctionLoad(started=1), "gone.ns": FunctionLoad(started=1)})
    tracker.woke("fn.ns", 7.0)
    assert tracker.idle_for("fn.ns", 8.0) == 1.0
    tracker.forget_except(["fn.ns"])
    assert tracker.idle_for("gone.ns", 100.0) == 0.0


def test_stabiliser_scales_up_at_once_and_down_after_the_window() -> None:
    stabiliser = Stabiliser(window=10.0)
    assert stabiliser.recommend("fn", 0.0, 1) == 1
    assert stabiliser.recommend("fn", 1.0, 6) == 6  # up: immediate, one step
    assert stabiliser.recommend("fn", 2.0, 2) == 6  # down: held
    assert stabiliser.recommend("fn", 10.5, 2) == 6
    assert stabiliser.recommend("fn", 11.5, 2) == 2  # the 6 left the window
    stabiliser.reset("fn")
    assert stabiliser.recommend("fn", 12.0, 1) == 1


def test_zero_window_follows_the_raw_recommendation() -> None:
    stabiliser = Stabiliser(window=0.0)
    assert [stabiliser.recommend("fn", t, d) for t, d in enumerate([3, 1, 4, 1])] == [3, 1, 4, 1]


@given(st.lists(st.tuples(st.floats(0, 5), st.integers(1, 50)), min_size=1, max_size=40), st.floats(0, 30))
def test_stabilised_count_is_the_window_maximum(steps: list[tuple[float, int]], window: float) -> None:
    stabiliser = Stabiliser(window)
    now = 0.0
    history: list[tuple[float, int]] = []
    for gap, desired in steps:
        now += gap
        history.append((now, desired))
        applied = stabiliser.recommend("fn", now, desired)
        assert applied == max(d for t, d in history if t >= now - window)
        assert applied >= desired
