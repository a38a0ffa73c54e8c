"""Interruptible waiting: every sleep in the worker ends early when it is told to stop."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["sleep_or_stop"]


async def sleep_or_stop(delay: float, stop: asyncio.Event) -> bool:
    """Sleep ``delay`` seconds or until ``stop`` is set; True if stopped."""
    if stop.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)
    return stop.is_set()
