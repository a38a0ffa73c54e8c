"""The aiohttp internals ``pyfaas.system.aiohttp_internals`` relies on, exercised against the installed
aiohttp with real servers on loopback: an upgrade that moves one fails here, naming it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from pyfaas.system.aiohttp_internals import (
    ResponseHandler,
    ServerWrappingAppRunner,
    drain,
    server_arguments,
)


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


@pytest.fixture
async def server_port() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/", _hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def test_response_handler_reads_a_response_with_the_parameters_upstream_sets(server_port: int) -> None:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: ResponseHandler(loop), "127.0.0.1", server_port)
    try:
        protocol.set_response_params(
            skip_payload=False, auto_decompress=False, read_bufsize=1 << 16, max_field_size=8190
        )
        assert protocol.transport is not None
        protocol.transport.write(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        await drain(protocol)
        message, payload = await protocol.read()
        assert message.code == 200
        assert await payload.read() == b"hello"
        assert protocol.is_connected()
    finally:
        protocol.close()


async def test_drain_waits_while_writing_is_paused(server_port: int) -> None:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: ResponseHandler(loop), "127.0.0.1", server_port)
    try:
        protocol.pause_writing()  # what the transport calls above its high-water mark
        waiting = asyncio.ensure_future(drain(protocol))
        await asyncio.sleep(0)  # one loop turn: the drain is now parked on the paused protocol
        assert not waiting.done()
        protocol.resume_writing()
        await asyncio.wait_for(waiting, 5)
    finally:
        protocol.close()


class _Recording(ServerWrappingAppRunner):
    def __init__(self, app: web.Application) -> None:
        super().__init__(app, access_log=None, keepalive_timeout=7.5)
        self.plain: web.Server | None = None

    def wrap_server(self, plain: web.Server) -> web.Server:
        self.plain = plain
        loop, kwargs = server_arguments(plain)
        return web.Server(plain.request_handler, request_factory=plain.request_factory, loop=loop, **kwargs)


async def test_wrapped_server_serves_with_the_arguments_aiohttp_merged() -> None:
    app = web.Application(handler_args={"max_field_size": 4096})
    app.router.add_get("/", _hello)
    runner = _Recording(app)
    await runner.setup()
    try:
        assert runner.plain is not None
        loop, kwargs = server_arguments(runner.plain)
        assert loop is asyncio.get_running_loop()
        assert kwargs["keepalive_timeout"] == 7.5  # the runner's keyword arguments
        assert kwargs["max_field_size"] == 4096  # merged from the application's handler_args
        assert runner.server is not runner.plain  # the wrapped one is what serves
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", runner.addresses[0][1])
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")
    finally:
        await runner.cleanup()
