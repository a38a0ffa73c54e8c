"""A fair concurrency limiter: ``max_inflight`` slots shared round-robin between functions.

Each function's fetch loop asks for slots; when slots are scarce they are handed to waiting functions in
turn, so a function with a 10,000-message backlog gets one slot, then the next waiting function gets one,
and so on. When nobody else waits, a function takes every free slot at once (batching).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

__all__ = ["FairSlots"]


class FairSlots:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.free = capacity
        self._waiting: OrderedDict[str, tuple[int, asyncio.Future[int]]] = OrderedDict()

    @property
    def in_use(self) -> int:
        return self.capacity - self.free

    def __repr__(self) -> str:
        return f"FairSlots(in_use={self.in_use}, capacity={self.capacity}, waiting={list(self._waiting)})"

    async def acquire(self, key: str, want: int = 1) -> int:
        """Wait for at least one slot; return how many were granted (1..want)."""
        if key in self._waiting:
            raise RuntimeError(f"{key} is already waiting for slots")
        if self.free > 0 and not self._waiting:
            granted = min(want, self.free)
            self.free -= granted
            return granted
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[key] = (want, future)
        try:
            return await future
        except asyncio.CancelledError:
            self._waiting.pop(key, None)
            if future.done() and not future.cancelled():
                self.release(future.result())
            raise

    def release(self, count: int = 1) -> None:
        if count <= 0:
            return
        self.free = min(self.capacity, self.free + count)
        self._dispatch()

    def _dispatch(self) -> None:
        # Free slots are split evenly between the functions waiting now, in the order they started waiting.
        while self.free > 0 and self._waiting:
            _key, (want, future) = self._waiting.popitem(last=False)
            if future.done():
                continue
            share = min(want, max(1, self.free // (len(self._waiting) + 1)))
            self.free -= share
            future.set_result(share)
