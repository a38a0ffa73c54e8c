"""The shared deadline timer that bounds every proxied call by ``upstream_timeout``."""

from __future__ import annotations

import asyncio

import pytest

from pyfaas.gateway.invocation.deadlines import Deadlines
from tests.support.async_calls import until


async def _bounded(deadlines: Deadlines, work: float) -> str:
    call = deadlines.enter()
    try:
        await asyncio.sleep(work)  # the bounded call's work
        return "done"
    except asyncio.CancelledError:
        if call.expired:
            return "timed out"
        raise
    finally:
        deadlines.leave(call)


async def test_a_call_past_its_deadline_times_out_and_others_finish() -> None:
    deadlines = Deadlines(0.2)
    slow = asyncio.create_task(_bounded(deadlines, 5))
    await asyncio.sleep(0.1)  # the second call starts later, so its deadline is later
    later_slow = asyncio.create_task(_bounded(deadlines, 5))  # its deadline is 0.1 s after the first one's
    fast = [asyncio.create_task(_bounded(deadlines, 0.01)) for _ in range(20)]
    async with asyncio.timeout(5):
        assert await asyncio.gather(*fast) == ["done"] * 20
        assert await slow == "timed out"
        assert not later_slow.done()  # not cancelled with the first one
        assert await later_slow == "timed out"
    assert len(deadlines) == 0


async def test_a_timed_out_task_is_not_left_cancelling() -> None:
    deadlines = Deadlines(0.05)
    assert await _bounded(deadlines, 5) == "timed out"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # no cancellation pending on this task


async def test_cancelling_from_outside_is_not_a_timeout() -> None:
    deadlines = Deadlines(10)
    task = asyncio.create_task(_bounded(deadlines, 5))
    await until(lambda: len(deadlines) == 1, 5, "the call bounded")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(deadlines) == 0


async def test_leave_is_idempotent_and_the_timer_rearms() -> None:
    deadlines = Deadlines(0.1)
    call = deadlines.enter()
    deadlines.leave(call)
    deadlines.leave(call)
    await asyncio.sleep(0.15)  # past the left call's deadline: the timer fires with nothing to expire
    assert await _bounded(deadlines, 5) == "timed out"
    deadlines.close()
