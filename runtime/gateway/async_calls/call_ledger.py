"""The async call ledger: a worker's repeated ``/function`` request for one async call gets the first answer.

A worker that dies while its call runs (or just after the answer, before storing it) leaves the message to be
delivered again, and the function would run twice. The gateway outlives the worker and usually saw the first
run through, so it keeps that run's answer and replays it to the repeated request instead of running again.

Rules (see docs/reliability.md, "async call ledger"):

* eligible: only call ids this gateway process issued itself at ``/async-function`` (a client cannot read or
  replay another call by sending a header), for the same function name, and only requests carrying the
  worker's ``X-Pyfaas-Attempt``; ids are remembered for ``issued_ttl``, at most ``max_issued`` (oldest
  forgotten first);
* the first request runs; a second one while it is in flight waits for it (single-flight) and gets the same
  answer; afterwards the answer is replayed for ``ttl`` (within a total ``max_bytes``, oldest evicted);
* only final answers are kept: status below 400, which the worker treats as success whatever its
  ``retry_http_codes``. A 4xx/5xx is never kept (the worker's and a function's retry codes are configurable,
  and a retried status must run the function again); neither is a streamed answer or one above ``max_body``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from multidict import istr

__all__ = ["CALL_LEDGER", "REPLAYED_HEADER", "CachedAnswer", "CallLedger", "is_final_status"]

ATTEMPT_HEADER = istr("X-Pyfaas-Attempt")
REPLAYED_HEADER = "X-Pyfaas-Replayed"
_ENTRY_OVERHEAD = 256
"""Bytes charged per kept answer on top of its body and headers (objects, dict slots)."""


def is_final_status(status: int) -> bool:
    """An answer the worker never retries, whatever its retry codes: 1xx-3xx (``succeeded``)."""
    return status < 400


@dataclass(slots=True, frozen=True)
class CachedAnswer:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    function: str
    expires: float
    size: int

    def response(self) -> web.Response:
        headers = [*self.headers, (REPLAYED_HEADER, "true")]
        return web.Response(status=self.status, reason=self.reason, headers=headers, body=self.body)


class CallLedger:
    """Bounded, in-memory; one per gateway process (state is lost on restart: then calls simply run)."""

    def __init__(
        self,
        *,
        ttl: float,
        max_bytes: int,
        max_body: int,
        issued_ttl: float,
        max_issued: int,
        count_uncached: Callable[[str], None] = lambda reason: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.max_body = max_body
        self._issued_ttl = issued_ttl
        self._max_issued = max_issued
        self._clock = clock
        self.issued: OrderedDict[str, tuple[float, str]] = OrderedDict()
        """call id → (forget at, function); never rebound, so its truthiness is the hot path's cheap test."""
        self._answers: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._running: dict[str, asyncio.Future[CachedAnswer | None]] = {}
        self.bytes = 0
        self._count = count_uncached
        """Called with the reason an answer is not kept: ``too_large``, ``streamed``, ``over_budget``."""

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self._max_issued > 0

    def issue(self, call_id: str, function: str) -> None:
        """Remember an id this gateway just answered 202 for (the only ids a replay may use)."""
        if not self.enabled:
            return
        issued = self.issued
        now = self._clock()
        issued[call_id] = (now + self._issued_ttl, function)
        issued.move_to_end(call_id)
        while issued:
            oldest = next(iter(issued.values()))
            if len(issued) <= self._max_issued and oldest[0] > now:
                break
            issued.popitem(last=False)

    def eligible(self, call_id: str | None, function: str) -> bool:
        if call_id is None:
            return False
        entry = self.issued.get(call_id)
        if entry is not None and entry[1] == function and entry[0] > self._clock():
            return True
        answer = self._answers.get(call_id)
        return answer is not None and answer.function == function

    def answer(self, call_id: str) -> CachedAnswer | None:
        """The kept answer of ``call_id`` if still fresh."""
        self._expire()
        return self._answers.get(call_id)

    def running(self, call_id: str) -> asyncio.Future[CachedAnswer | None] | None:
        return self._running.get(call_id)

    def begin(self, call_id: str) -> asyncio.Future[CachedAnswer | None]:
        """Mark ``call_id`` in flight; later requests wait on the returned future."""
        future: asyncio.Future[CachedAnswer | None] = asyncio.get_running_loop().create_future()
        self._running[call_id] = future
        return future

    def finish(self, call_id: str, function: str, response: web.StreamResponse | None) -> CachedAnswer | None:
        """End the in-flight run of ``call_id``: keep its answer if it qualifies; wake the waiters."""
        answer = self._keep(call_id, function, response) if response is not None else None
        future = self._running.pop(call_id, None)
        if future is not None and not future.done():
            future.set_result(answer)
        return answer

    def _keep(self, call_id: str, function: str, response: web.StreamResponse) -> CachedAnswer | None:
        if not is_final_status(response.status):
            return None
        body = response.body if isinstance(response, web.Response) else None
        if not isinstance(body, bytes):
            self._count("streamed")
            return None
        if len(body) > self.max_body:
            self._count("too_large")
            return None
        headers = tuple(
            (key, value) for key, value in response.headers.items() if key.lower() != "content-length"
        )
        size = len(body) + sum(len(key) + len(value) for key, value in headers) + _ENTRY_OVERHEAD
        if size > self.max_bytes:
            self._count("over_budget")
            return None
        answer = CachedAnswer(
            status=response.status,
            reason=response.reason,
            headers=headers,
            body=body,
            function=function,
            expires=self._clock() + self.ttl,
            size=size,
        )
        previous = self._answers.pop(call_id, None)
        if previous is not None:
            self.bytes -= previous.size
        self._answers[call_id] = answer
        self.bytes += size
        self._expire()
        while self.bytes > self.max_bytes:
            _, evicted = self._answers.popitem(last=False)
            self.bytes -= evicted.size
        return answer

    def _expire(self) -> None:
        answers = self._answers
        now = self._clock()
        while answers:
            oldest = next(iter(answers.values()))
            if oldest.expires > now:
                return
            answers.popitem(last=False)
            self.bytes -= oldest.size


CALL_LEDGER: web.AppKey[CallLedger] = web.AppKey("call_ledger", CallLedger)
