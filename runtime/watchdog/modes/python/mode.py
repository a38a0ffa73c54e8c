"""``python`` mode: the handler is imported once and called in the watchdog process.

``async def handle`` runs on the event loop; a plain ``def handle`` runs in a bounded thread pool so a slow
handler never blocks the loop (``python_inline=auto`` lets a handler that proves CPU-trivial run on the
loop instead; see ``pyfaas.watchdog.modes.python.inline_policy``). ``exec_timeout`` answers 504 when passed
(a sync handler's thread cannot be stopped and finishes in the background). A handler exception answers
500; the traceback goes to the log.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from typing import Any

from aiohttp import web
from aiohttp.web_request import BaseRequest
from multidict import CIMultiDictProxy, MultiMapping

from pyfaas.core.tracecontext import trace_id_of
from pyfaas.watchdog.httputil import INTERNAL_HEADER, plain, read_body
from pyfaas.watchdog.modes.python.handler_pool import HandlerPool
from pyfaas.watchdog.modes.python.inline_policy import InlinePolicy
from pyfaas.watchdog.modes.python.loader import LoadedHandler, load_handler
from pyfaas.watchdog.modes.python.mapping import map_classic, map_http
from pyfaas.watchdog.runner import RunnerContext, StartupFailed

__all__ = ["Context", "Event", "PythonRunner"]


class Event:
    """What a python3-http handler receives: ``body`` (bytes), ``headers`` (case-insensitive), ``method``,
    ``query`` (multi-dict; ``.get`` gives the first value) and ``path``."""

    __slots__ = ("_request", "body", "headers", "method")

    def __init__(self, body: bytes, request: BaseRequest) -> None:
        self.body = body
        self.headers: CIMultiDictProxy[str] = request.headers
        self.method: str = request.method
        self._request = request

    @property
    def query(self) -> MultiMapping[str]:
        return self._request.query

    @property
    def path(self) -> str:
        return self._request.path


class Context:
    """What a python3-http handler receives as ``context``: ``hostname``, and the call's W3C trace context
    (``traceparent``, ``tracestate``, ``trace_id``; None when the call carries none, pyfaas extension)."""

    __slots__ = ("hostname", "traceparent", "tracestate")

    def __init__(self, hostname: str, traceparent: str | None = None, tracestate: str | None = None) -> None:
        self.hostname = hostname
        self.traceparent = traceparent
        self.tracestate = tracestate

    @property
    def trace_id(self) -> str | None:
        return trace_id_of(self.traceparent)


class PythonRunner:
    def __init__(self, context: RunnerContext) -> None:
        self._settings = context.settings
        self._sink = context.sink
        self._context = Context(context.settings.hostname)
        self._handler: LoadedHandler | None = None
        self._pool: HandlerPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeout = context.settings.exec_timeout or None
        self._policy: InlinePolicy | None = None

    async def start(self) -> None:
        try:
            self._handler = load_handler(self._settings.handler, self._settings.handler_style)
        except BaseException as exc:
            raise StartupFailed("cannot import the handler:\n" + traceback.format_exc().rstrip()) from exc
        self._loop = asyncio.get_running_loop()
        if not self._handler.is_async:
            self._pool = HandlerPool(self._loop, self._settings.python_workers)
            if self._settings.python_inline == "auto":
                self._policy = InlinePolicy(self._sink)

    async def ready(self) -> None:
        return None

    async def handle(self, request: BaseRequest, started: float) -> web.StreamResponse:
        handler = self._handler
        assert handler is not None and self._loop is not None
        settings = self._settings
        body = (
            await read_body(request, settings.max_body_bytes, settings.read_timeout)
            if request.body_exists
            else b""
        )
        args: tuple[Any, ...]
        if handler.style == "http":
            traceparent = request.headers.get("traceparent")
            context = (
                self._context
                if traceparent is None
                else Context(self._context.hostname, traceparent, request.headers.get("tracestate"))
            )
            args = (Event(body, request), context)
        else:
            args = (body.decode("utf-8", "replace"),)
        try:
            if handler.is_async:
                async with asyncio.timeout(self._timeout):
                    result = await handler.function(*args)
            elif self._policy is not None and self._policy.inline:
                called = time.perf_counter()
                try:
                    result = handler.function(*args)
                finally:
                    self._policy.inline_call(time.perf_counter() - called)
            else:
                assert self._pool is not None
                future = self._pool.submit(self._pooled, *args)
                timer = self._loop.call_later(self._timeout, _expire, future) if self._timeout else None
                try:
                    result = await future
                finally:
                    if timer is not None:
                        timer.cancel()
        except TimeoutError:
            self._sink.line(f"handler timed out after {self._timeout}s: {request.method} {request.raw_path}")
            return web.Response(status=504, headers={INTERNAL_HEADER: "of-watchdog"})
        except asyncio.CancelledError:
            raise
        except BaseException:  # SystemExit from a handler must not stop the replica
            self._sink.line("handler raised an exception:\n" + traceback.format_exc().rstrip())
            return plain(500, "Internal Server Error\n")
        try:
            if handler.style == "http":
                mapped = map_http(result)
            else:
                content_type = (
                    settings.content_type
                    or request.headers.get("Content-Type")
                    or "text/plain; charset=utf-8"
                )
                mapped = map_classic(result, content_type)
        except Exception:
            self._sink.line("cannot turn the handler's result into a response:\n" + traceback.format_exc())
            return plain(500, "Internal Server Error\n")
        return web.Response(status=mapped.status, body=mapped.body, headers=mapped.headers)

    def _pooled(self, *args: Any) -> Any:
        """The handler call as run on a pool thread (timed when ``python_inline=auto``)."""
        assert self._handler is not None
        if self._policy is None:
            return self._handler.function(*args)
        called = time.perf_counter()
        try:
            return self._handler.function(*args)
        finally:
            self._policy.pooled_call(time.perf_counter() - called)

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def _expire(future: asyncio.Future[Any]) -> None:
    """``exec_timeout`` passed for a pooled call: answer now, let the thread finish in the background."""
    if not future.done():
        future.set_exception(TimeoutError())
