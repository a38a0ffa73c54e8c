"""Every use of aiohttp's private internals, in one place (aiohttp 3.14; pinned in requirements.lock).

aiohttp has no public hook for the two things pyfaas needs from it beyond its documented API:

* a custom connection handler (``RequestHandler`` subclass) behind an ``AppRunner``: the slow-header guard
  (:mod:`pyfaas.system.http_guard`) times each request head. ``AppRunner._make_server`` builds the
  ``web.Server`` and the server's ``__call__`` builds the handler from its private ``_loop`` and ``_kwargs``;
  aiohttp dropped its own slow-request timeout (aio-libs/aiohttp#1198) and does not support custom request
  classes (aio-libs/aiohttp#4577). Open upstream question, in docs/decisions/0080: a public handler-class
  or header-timeout option would remove :class:`ServerWrappingAppRunner` and :func:`server_arguments`.
* a raw HTTP/1.1 client protocol for the gateway's lean upstream client
  (:mod:`pyfaas.gateway.invocation.upstream`): ``aiohttp.client_proto.ResponseHandler`` (not exported) and
  its write flow control ``_drain_helper`` (``writing_paused`` is public since 3.11, the wait is not; see
  aio-libs/aiohttp#6028 and #9796).

``tests/unit/system/test_aiohttp_internals.py`` exercises each of these against the installed aiohttp, so an
upgrade that moves one fails there first, naming it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.client_proto import ResponseHandler

__all__ = ["ResponseHandler", "ServerWrappingAppRunner", "drain", "server_arguments"]


async def drain(protocol: ResponseHandler) -> None:
    """Wait until the transport's write buffer is below its high-water mark (returns at once when it is)."""
    if protocol.writing_paused:
        await protocol._drain_helper()


def server_arguments(server: web.Server) -> tuple[asyncio.AbstractEventLoop, dict[str, Any]]:
    """The loop and the connection-handler keyword arguments a ``web.Server`` was built with (after
    ``AppRunner`` merged the application's ``handler_args`` into them)."""
    return server._loop, dict(server._kwargs)


class ServerWrappingAppRunner(web.AppRunner):
    """``web.AppRunner`` whose ``web.Server`` is replaced by :meth:`wrap_server` of the one aiohttp built
    (after the application started, with its handler arguments merged)."""

    def wrap_server(self, plain: web.Server) -> web.Server:
        raise NotImplementedError

    async def _make_server(self) -> web.Server:
        return self.wrap_server(await super()._make_server())
