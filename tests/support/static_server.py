"""A real static file server on loopback (aiohttp's file handler: ETag, Last-Modified, 304, 404), in a thread.

It stands for wherever a team publishes its store catalog (a web server, a git host's raw files). It records
every request's path and ``If-None-Match`` header so tests can see revalidation, and serves two extra kinds
of path a real host can produce: ``/slow/...`` answers only when :meth:`StaticServer.release` is called (a
store that hangs), and ``/status/<code>`` answers that status.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

__all__ = ["Seen", "StaticServer", "static_server"]


@dataclass(frozen=True, slots=True)
class Seen:
    path: str
    if_none_match: str
    status: int


@dataclass
class StaticServer:
    root: Path
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _release: asyncio.Event | None = None

    def requests_for(self, path: str) -> list[Seen]:
        return [item for item in list(self.seen) if item.path == path]

    def release(self) -> None:
        """Let every held ``/slow/...`` request answer (404)."""
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)


def _app(server: StaticServer, release: asyncio.Event) -> web.Application:
    async def record(request: web.Request, response: web.StreamResponse) -> None:
        # on prepare: a file response decides its status (200, 304, 412 ...) only then
        server.seen.append(Seen(request.path, request.headers.get("If-None-Match", ""), response.status))

    async def slow(_: web.Request) -> web.Response:
        await release.wait()
        raise web.HTTPNotFound()

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="as asked")

    app = web.Application()
    app.on_response_prepare.append(record)
    app.router.add_get("/slow/{rest:.*}", slow)
    app.router.add_get("/status/{code:\\d{3}}", status)
    app.router.add_static("/", server.root, show_index=False, follow_symlinks=False)
    return app


@contextlib.contextmanager
def static_server(root: Path) -> Iterator[StaticServer]:
    """Serve ``root`` on 127.0.0.1 (ephemeral port) from a thread with its own event loop."""
    server = StaticServer(root)
    ready = threading.Event()
    stop: list[Callable[[], None]] = []
    failure: list[BaseException] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        release = asyncio.Event()
        server._loop, server._release = loop, release
        runner = web.AppRunner(_app(server, release), access_log=None, shutdown_timeout=0.5)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)
            ready.set()
            return
        finished = asyncio.Event()
        stop.append(lambda: loop.call_soon_threadsafe(finished.set))
        ready.set()
        loop.run_until_complete(finished.wait())
        release.set()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="static-server", daemon=True)
    thread.start()
    ready.wait(30)
    if failure:
        raise failure[0]
    try:
        yield server
    finally:
        if stop:
            stop[0]()
        thread.join(30)
