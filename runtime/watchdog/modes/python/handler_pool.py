"""A bounded thread pool for sync python-mode handlers, lighter than ``run_in_executor``.

Work goes through a ``SimpleQueue`` (C, lock-free for the caller); results come back in batches, with at
most one loop wake-up pending at a time, so a busy replica does not pay one cross-thread wake-up per call.
Threads are started on demand, up to ``max_workers``.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["HandlerPool"]

_STOP = object()


class HandlerPool:
    def __init__(self, loop: asyncio.AbstractEventLoop, max_workers: int, name: str = "handler") -> None:
        self._loop = loop
        self._max = max_workers
        self._name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._lock = threading.Lock()
        self._done: list[tuple[asyncio.Future[Any], bool, Any]] = []
        self._wake_pending = False

    def submit(self, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run ``function(*args)`` on a pool thread; the returned future resolves on the loop."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self._jobs.put((future, function, args))
        # A new thread only when every thread is inside a handler call (blocked in I/O or sleeping). Threads
        # merely waiting for the GIL do not count, so quick handlers keep one thread busy instead of many.
        if self._busy >= len(self._threads) and len(self._threads) < self._max:
            self._start_thread()
        return future

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is _STOP:
                return
            future, function, args = job
            if future.cancelled():
                continue
            with self._lock:
                self._busy += 1
            try:
                outcome = (future, True, function(*args))
            except BaseException as exc:
                outcome = (future, False, exc)
            with self._lock:
                self._busy -= 1
                self._done.append(outcome)
                wake = not self._wake_pending
                self._wake_pending = True
            if wake:
                try:
                    self._loop.call_soon_threadsafe(self._deliver)
                except RuntimeError:  # the loop is closed: nobody waits for the result any more
                    return

    def _deliver(self) -> None:
        with self._lock:
            done, self._done = self._done, []
            self._wake_pending = False
        for future, ok, value in done:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def shutdown(self) -> None:
        """Ask every thread to stop once its current call returns (does not wait)."""
        for _ in self._threads:
            self._jobs.put(_STOP)
