"""``fork`` mode: the classic watchdog. One process per request; the request body on stdin, stdout (and
stderr when ``combine_output``) as the response; CGI ``Http_*`` environment; 500 with the output on a
non-zero exit, 408 when ``exec_timeout`` kills the process group."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json

from aiohttp import web
from aiohttp.web_request import BaseRequest

from pyfaas.watchdog.cgi import cgi_environment
from pyfaas.watchdog.function_processes import PIPE, STDOUT, describe_exit
from pyfaas.watchdog.httputil import plain, read_body
from pyfaas.watchdog.modes.per_request import ProcessPerRequestRunner

__all__ = ["ForkRunner"]

ALLOWED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class ForkRunner(ProcessPerRequestRunner):
    async def handle(self, request: BaseRequest, started: float) -> web.StreamResponse:
        settings = self._settings
        if request.method not in ALLOWED_METHODS:
            return plain(405, "Method Not Allowed\n")
        try:
            body = await read_body(request, settings.max_body_bytes, settings.read_timeout)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            return plain(400, f"{exc}\n")
        if settings.marshal_request:
            body = json.dumps(
                {
                    "header": {key: request.headers.getall(key) for key in request.headers},
                    "body": {"raw": base64.b64encode(body).decode()},
                }
            ).encode()
        env = cgi_environment(self._environ, request, classic=True) if settings.cgi_headers else self._environ
        process = await self._spawn(env, stderr=STDOUT if settings.combine_output else PIPE)
        if isinstance(process, web.Response):
            return process
        assert process.stdout is not None
        errors: asyncio.Future[bytes] | None = None
        if process.stderr is not None:
            errors = asyncio.ensure_future(process.read_all(process.stderr))
        feeder = asyncio.ensure_future(process.feed(body))
        try:
            async with asyncio.timeout(settings.exec_timeout or None):
                output = await process.read_all(process.stdout)
                code = await process.wait()
        except TimeoutError:
            process.kill_group()
            await process.wait()
            self._sink.line(f"Killed process: {self._argv[0]} after {settings.exec_timeout}s")
            return plain(408, "Killed process.\n")
        finally:
            process.kill_group()
            feeder.cancel()
            for task in (feeder, errors):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, OSError):
                        await asyncio.wait_for(task, 1.0)
            process.close()
        stderr_text = (
            errors.result() if errors is not None and errors.done() and not errors.cancelled() else b""
        )
        for line in stderr_text.decode("utf-8", "replace").splitlines():
            self._sink.function_line("stderr", line)
        if settings.write_debug:
            for line in output.decode("utf-8", "replace").splitlines():
                self._sink.function_line("stdout", line)
        if code != 0:
            return web.Response(
                status=500,
                body=f"{describe_exit(code)}\n".encode() + output,
                content_type="text/plain",
                charset="utf-8",
            )
        content_type = settings.content_type or request.headers.get("Content-Type") or "text/plain"
        return web.Response(status=200, body=output, headers={"Content-Type": content_type})
