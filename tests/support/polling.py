"""The suite's one polling loop: wait on a condition instead of sleeping a fixed time.

``eventually`` awaits an async probe until its value passes a check and returns that value; ``until`` polls a
plain predicate from async code; ``wait_until`` does the same from sync code, and ``wait_value`` is
``eventually`` for a sync probe. The other helpers
(``tests.support.async_calls.until``/``eventually``, ``tests.support.watchdog.wait_for``,
``tests.support.platform.wait_until``, ``tests.integration.provider.helpers.eventually``) keep their
signatures and defaults and poll through these.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["PollTimeout", "eventually", "until", "wait_until", "wait_value"]

T = TypeVar("T")


class PollTimeout(AssertionError):
    """The condition did not hold in time (an assertion failure of the test, told apart from one that the
    probe itself raised)."""


def _failure(within: float, what: str | None, value: object) -> PollTimeout:
    waited = f" waiting for {what}" if what else ""
    return PollTimeout(f"timed out after {within}s{waited}; last value: {value!r}")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], object],
    within: float = 60.0,
    *,
    interval: float = 0.1,
    what: str | None = None,
) -> T:
    """Call ``probe`` every ``interval`` seconds until ``check`` accepts its value, and return that value;
    fail the test after ``within`` seconds naming the last value (shared, slow machine: generous bounds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if check(value):
            return value
        if loop.time() >= deadline:
            raise _failure(within, what, value)
        await asyncio.sleep(interval)


async def until(
    predicate: Callable[[], object], within: float = 30.0, what: str | None = None, *, interval: float = 0.02
) -> None:
    """Poll ``predicate()`` from async code every ``interval`` seconds until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (value := predicate()):
        if loop.time() >= deadline:
            raise _failure(within, what, value)
        await asyncio.sleep(interval)


def wait_until(
    predicate: Callable[[], object], within: float = 10.0, what: str | None = None, *, interval: float = 0.01
) -> None:
    """Poll ``predicate()`` from sync code every ``interval`` seconds until it is true."""
    deadline = time.monotonic() + within
    while not (value := predicate()):
        if time.monotonic() >= deadline:
            raise _failure(within, what, value)
        time.sleep(interval)


def wait_value(
    probe: Callable[[], T],
    check: Callable[[T], object],
    within: float = 30.0,
    *,
    interval: float = 0.1,
    what: str | None = None,
) -> T:
    """Call ``probe`` every ``interval`` seconds until ``check`` accepts its value; return that value."""
    deadline = time.monotonic() + within
    while not check(value := probe()):
        if time.monotonic() >= deadline:
            raise _failure(within, what, value)
        time.sleep(interval)
    return value
