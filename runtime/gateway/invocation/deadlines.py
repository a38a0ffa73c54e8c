"""One timer for every call's ``upstream_timeout``, instead of an ``asyncio.timeout`` per call.

Every call has the same timeout, so deadlines arrive in the order calls start: the calls in flight are kept in
an insertion-ordered dict, and one loop timer is armed for the oldest. When it fires it cancels the calls past
their deadline (marking them expired, so the caller can tell its timeout from any other cancellation) and
re-arms for the next oldest. A call that finishes leaves the dict at once. Per call that is one small object
and two dict operations, where ``asyncio.timeout`` creates a context manager and schedules and cancels a loop
timer (measured: ~4 % of the gateway's time under load).

Usage, on the task to bound::

    call = deadlines.enter()
    try:
        ...  # awaits
    except asyncio.CancelledError:
        if call.expired:  # ours: becomes a timeout
            ...
        raise
    finally:
        deadlines.leave(call)
"""

from __future__ import annotations

import asyncio

__all__ = ["Call", "Deadlines"]


class Call:
    __slots__ = ("deadline", "expired", "left", "task")

    def __init__(self, task: asyncio.Task[object], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.expired = False
        self.left = False


class Deadlines:
    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._calls: dict[Call, None] = {}
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._calls)

    def enter(self) -> Call:
        """Bound the current task by the timeout from now on."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Deadlines.enter() must be called from a task")
        loop = task.get_loop()
        call = Call(task, loop.time() + self._timeout)
        self._calls[call] = None
        if self._timer is None:
            self._timer = loop.call_at(call.deadline, self._expire)
        return call

    def leave(self, call: Call) -> None:
        """The call is over (its task is not cancelled by us after this); calling it again does nothing."""
        if call.left:
            return
        call.left = True
        self._calls.pop(call, None)
        if call.expired:
            # The cancellation we requested was consumed by the caller; do not leave it pending on the task.
            call.task.uncancel()

    def _expire(self) -> None:
        self._timer = None
        calls = self._calls
        loop = asyncio.get_running_loop()
        now = loop.time()
        while calls:
            call = next(iter(calls))  # the oldest
            if call.deadline > now:
                self._timer = loop.call_at(call.deadline, self._expire)
                return
            del calls[call]
            call.expired = True
            call.task.cancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._calls.clear()
