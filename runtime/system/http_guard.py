"""Slow and oversized request heads, for the aiohttp servers of the gateway and the watchdog.

aiohttp closes a connection that sends no complete request only after its keep-alive timeout (an hour by
default), so a slowloris client — many connections, each dribbling its headers a byte at a time — holds
sockets and memory for that long. :class:`GuardedServer` closes a connection whose request head is not
complete ``read_header_timeout`` seconds after it began: from the connection's first byte of a head (a new
connection owes one at once). Idle keep-alive connections between requests are untouched (pooled clients
keep them), as is a request's body or a slow handler.

It also answers a header line or header section over aiohttp's limits with **431 Request Header Fields Too
Large** (aiohttp answers 400), and any other malformed head with a JSON 400, without logging or echoing the
offending bytes (they may carry credentials).

Shared by two services that may not import each other, hence in this layer. The aiohttp internals it needs
(a custom connection handler behind an ``AppRunner``) are in :mod:`pyfaas.system.aiohttp_internals`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from pyfaas.system.aiohttp_internals import ServerWrappingAppRunner, server_arguments

__all__ = ["DEFAULT_READ_HEADER_TIMEOUT", "GuardedAppRunner", "GuardedServer"]

DEFAULT_READ_HEADER_TIMEOUT = 10.0
_TOO_MANY_HEADERS = "Too many headers"


class _GuardedHandler(RequestHandler):
    """aiohttp's connection handler plus a timer on the request head."""

    def __init__(self, manager: web.Server, *, head_clock: _HeadClock, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._head_clock = head_clock
        self._timing_head = False
        self._awaiting_head = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head and not self._timing_head:
            self._arm()  # the first byte of the next request head
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def head_complete(self) -> None:
        """Called as the request reaches its handler: the head is in, the timer stops."""
        self._awaiting_head = False
        self._disarm()

    async def finish_response(
        self, request: BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        result = await super().finish_response(request, resp, start_time)
        self._awaiting_head = True  # timed again from the first byte of the next request
        return result

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, LineTooLong) or (
            isinstance(exc, BadHttpMessage) and _TOO_MANY_HEADERS in str(exc.message)
        ):
            return _closing_json(431, {"error": "request header fields too large", "field": "headers"})
        if isinstance(exc, BadHttpMessage):
            # aiohttp would log, and answer in plain text, the offending bytes (perhaps a credential).
            return _closing_json(400, {"error": f"malformed HTTP request ({type(exc).__name__})"})
        return super().handle_error(request, status, exc, message)

    def _arm(self) -> None:
        self._timing_head = True
        self._head_clock.start(self)

    def _disarm(self) -> None:
        if self._timing_head:
            self._timing_head = False
            self._head_clock.stop(self)

    def head_timed_out(self) -> None:
        self._timing_head = False
        if self._awaiting_head:
            self.force_close()


class _HeadClock:
    """When each connection's current request head began, and one timer for the oldest.

    Every head has the same timeout, so deadlines come in the order heads begin: an insertion-ordered dict
    holds the connections whose head is incomplete, and a single loop timer, armed for the oldest, closes
    those past the timeout and re-arms for the next. Per request that is a dict insert and a pop instead of
    a loop timer scheduled and cancelled (measured on uvloop, 50 connections interleaved: 0.12 against
    0.48 us per request: small, but on every request of both the gateway and the watchdog).
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._began: dict[_GuardedHandler, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def start(self, handler: _GuardedHandler) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._began.pop(handler, None)  # restarted: it moves to the end, keeping the dict in time order
        self._began[handler] = now
        if self._timer is None:
            self._timer = loop.call_at(now + self._timeout, self._expire)

    def stop(self, handler: _GuardedHandler) -> None:
        self._began.pop(handler, None)

    def _expire(self) -> None:
        self._timer = None
        began = self._began
        loop = asyncio.get_running_loop()
        now = loop.time()
        while began:
            handler, started = next(iter(began.items()))  # the oldest
            if started + self._timeout > now:
                self._timer = loop.call_at(started + self._timeout, self._expire)
                return
            del began[handler]
            handler.head_timed_out()


def _closing_json(status: int, body: dict[str, str]) -> web.Response:
    response = web.Response(status=status, text=json.dumps(body), content_type="application/json")
    response.force_close()  # the parser's state is unknown after a bad head: no keep-alive
    return response


class GuardedServer(web.Server):
    """``web.Server`` whose connections must complete each request head within ``read_header_timeout``."""

    def __init__(
        self,
        handler: Callable[[BaseRequest], Awaitable[web.StreamResponse]],
        *,
        read_header_timeout: float = DEFAULT_READ_HEADER_TIMEOUT,
        request_factory: Any = None,
        handler_cancellation: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            handler,
            request_factory=request_factory,
            handler_cancellation=handler_cancellation,
            loop=loop,
            **kwargs,
        )
        self.read_header_timeout = read_header_timeout
        # web.Server keeps these privately; its __call__ is redone below with another handler class. The
        # remaining keyword arguments are the connection handler's (aiohttp's handler_args).
        self._handler_loop = loop or asyncio.get_running_loop()
        self._handler_kwargs = kwargs
        self._head_clock = _HeadClock(read_header_timeout)
        make_request = self.request_factory

        def head_complete(
            message: Any, payload: Any, protocol: RequestHandler, writer: Any, task: Any
        ) -> BaseRequest:
            # aiohttp makes the request object once a head is parsed: the cheapest place to stop its clock
            # (no extra coroutine per request, as wrapping the handler would cost).
            if isinstance(protocol, _GuardedHandler):
                protocol.head_complete()
            return make_request(message, payload, protocol, writer, task)

        self.request_factory = head_complete

    def __call__(self) -> RequestHandler:
        # As web.Server.__call__, with the guarded handler class (same constructor arguments).
        return _GuardedHandler(
            self, loop=self._handler_loop, head_clock=self._head_clock, **self._handler_kwargs
        )


class GuardedAppRunner(ServerWrappingAppRunner):
    """``web.AppRunner`` serving its application through a :class:`GuardedServer`."""

    def __init__(
        self, app: web.Application, *, read_header_timeout: float = DEFAULT_READ_HEADER_TIMEOUT, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self.read_header_timeout = read_header_timeout

    def wrap_server(self, plain: web.Server) -> web.Server:
        loop, kwargs = server_arguments(plain)
        return GuardedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=loop,
            read_header_timeout=self.read_header_timeout,
            **kwargs,
        )
