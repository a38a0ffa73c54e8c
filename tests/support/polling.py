"""``eventually``: poll an async probe until its value passes a check (no fixed sleeps in tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["eventually"]

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    within: float = 60.0,
    *,
    interval: float = 0.1,
) -> T:
    """Call ``probe`` every ``interval`` seconds until ``check`` accepts its value, and return that value;
    fail the test after ``within`` seconds naming the last value (shared, slow machine: generous bounds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if check(value):
            return value
        assert loop.time() < deadline, f"not reached in {within}s: {value!r}"
        await asyncio.sleep(interval)
