"""A real HTTP server standing in for a function replica in gateway unit tests."""

from __future__ import annotations

import asyncio
import gzip
import json

from aiohttp import web

__all__ = ["upstream_app"]


def upstream_app(label: str = "a") -> web.Application:
    """Routes: ``/echo`` (request as JSON), ``/sse`` (one event, the other two once ``/open`` was called:
    a stream the test holds open), ``/sleep?s=N``, ``/status/N``, ``/gzip``, ``/cookies``, ``/big?n=BYTES``,
    ``/count`` (concurrency probe)."""
    state = {"active": 0, "peak": 0}
    gate = asyncio.Event()

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "label": label,
                "method": request.method,
                "path": request.path,
                "raw_path": request.raw_path,
                "query": request.query_string,
                "headers": {k: v for k, v in request.headers.items()},
                "body": body.decode(errors="replace"),
                "length": len(body),
            },
            headers={"X-Upstream": label},
        )

    async def sse(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: 0\n\n")
        await gate.wait()
        await response.write(b"data: 1\n\ndata: 2\n\n")
        await response.write_eof()
        return response

    async def open_gate(_: web.Request) -> web.Response:
        gate.set()
        return web.Response(text="open")

    async def sleep(request: web.Request) -> web.Response:
        state["active"] += 1
        state["peak"] = max(state["peak"], state["active"])
        try:
            await asyncio.sleep(float(request.query.get("s", "1")))  # the slow function under test
        finally:
            state["active"] -= 1
        return web.Response(text=f"{label} slept")

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status")

    async def gzipped(_: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(b"compressed payload"),
            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
        )

    async def cookies(_: web.Request) -> web.Response:
        response = web.Response(text="cookies")
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")
        return response

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * int(request.query.get("n", "3000000")))

    async def peak(_: web.Request) -> web.Response:
        return web.Response(text=json.dumps(state))

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/sse", sse)
    app.router.add_get("/open", open_gate)
    app.router.add_get("/sleep", sleep)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/gzip", gzipped)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/big", big)
    app.router.add_get("/count", peak)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app
