"""The controller's two pure decisions, with the memory they need; no I/O, time is passed in.

* :class:`ActivityTracker`: how long each function has been idle. A function is active when its started
  counter changed since the previous sample, or calls are in flight. Idle time runs from the later of the
  last observed activity and the first sample that knew the function at all. So a function the load source
  has no data for (Prometheus not scraping the gateway yet, a target down) is never idle, and a restarted
  controller never scales anything to zero before a full idle duration has passed under its own eyes.
* :class:`Stabiliser`: target tracking's scale-down stabilisation. Scale-up is immediate and in one step;
  the applied count is the highest recommendation of the last ``window`` seconds, so replicas fall only
  after the load stayed low for the whole window (Kubernetes' HPA does the same).
* :class:`Floors`: the fallback tracking of unlabelled functions (no Prometheus) must not undo a count that
  someone else set (``pyfaas scale``, a deploy, an alert): a count the controller did not apply itself
  becomes the floor the fallback returns to after the load; it only removes replicas it added.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from pyfaas.idler.load import FunctionLoad

__all__ = ["ActivityTracker", "Floors", "Stabiliser"]


class ActivityTracker:
    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._last_active: dict[str, float] = {}
        self._first_seen: dict[str, float] = {}
        self._sampled = False

    def observe(self, now: float, loads: Mapping[str, FunctionLoad]) -> None:
        """Record one load sample taken at ``now``."""
        for function_name, load in loads.items():
            self._first_seen.setdefault(function_name, now)
            previous = self._started.get(function_name)
            # A series that appears after the first sample is a first invocation: activity too.
            changed = load.started != previous if previous is not None else self._sampled and load.started > 0
            if changed or load.busy:
                self._last_active[function_name] = now
            self._started[function_name] = load.started
        self._sampled = True

    def woke(self, function_name: str, now: float) -> None:
        """Restart the idle clock (e.g. the function was just scaled to zero or woke up)."""
        self._last_active[function_name] = now

    def idle_for(self, function_name: str, now: float) -> float:
        """Seconds without activity; 0 for a function no sample has known yet."""
        first_seen = self._first_seen.get(function_name)
        if first_seen is None:
            return 0.0
        return max(0.0, now - max(self._last_active.get(function_name, 0.0), first_seen))

    def forget_except(self, present: Iterable[str]) -> None:
        """Drop functions that no longer exist."""
        keep = set(present)
        for table in (self._last_active, self._first_seen, self._started):
            for function_name in table.keys() - keep:
                del table[function_name]


class Stabiliser:
    def __init__(self, window: float) -> None:
        self._window = window
        self._history: dict[str, deque[tuple[float, int]]] = {}

    def recommend(self, function_name: str, now: float, desired: int) -> int:
        """Record the raw ``desired`` count at ``now``; return the count to apply."""
        history = self._history.setdefault(function_name, deque())
        history.append((now, desired))
        while history and history[0][0] < now - self._window:
            history.popleft()
        return max(count for _, count in history)

    def reset(self, function_name: str) -> None:
        """Forget the recommendations (e.g. the function was scaled to zero, or its policy changed)."""
        self._history.pop(function_name, None)

    def forget_except(self, present: Iterable[str]) -> None:
        keep = set(present)
        for function_name in self._history.keys() - keep:
            del self._history[function_name]


class Floors:
    def __init__(self) -> None:
        self._applied: dict[str, int] = {}
        self._floor: dict[str, int] = {}

    def floor(self, function_name: str, current: int) -> tuple[int, bool]:
        """The floor of ``function_name`` observed at ``current`` replicas, and whether it is new: the floor
        becomes ``current`` unless that is the count this controller applied last (a restarted controller
        takes every count as set by hand)."""
        if self._applied.get(function_name) == current and function_name in self._floor:
            return self._floor[function_name], False
        self._applied.pop(function_name, None)
        changed = self._floor.get(function_name) != current
        self._floor[function_name] = current
        return current, changed

    def applied(self, function_name: str, replicas: int) -> None:
        """Record a count this controller set."""
        self._applied[function_name] = replicas

    def forget(self, function_name: str) -> None:
        self._applied.pop(function_name, None)
        self._floor.pop(function_name, None)

    def forget_except(self, present: Iterable[str]) -> None:
        keep = set(present)
        for table in (self._applied, self._floor):
            for function_name in table.keys() - keep:
                del table[function_name]
