"""``serializing`` mode (of-watchdog): one process per request; the whole body on stdin, the whole stdout
as the response (``content_type``); 500 with the error text on a non-zero exit or an ``exec_timeout``
kill; stderr goes to the log."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web
from aiohttp.web_request import BaseRequest

from pyfaas.watchdog.function_processes import describe_exit
from pyfaas.watchdog.httputil import plain, read_body
from pyfaas.watchdog.modes.per_request import ProcessPerRequestRunner

__all__ = ["SerializingRunner"]


class SerializingRunner(ProcessPerRequestRunner):
    async def handle(self, request: BaseRequest, started: float) -> web.StreamResponse:
        settings = self._settings
        body = await read_body(request, settings.max_body_bytes, settings.read_timeout)
        spawned = await self._spawn_relaying_stderr(request)
        if isinstance(spawned, web.Response):
            return spawned
        process, relay = spawned
        assert process.stdout is not None
        feeder = asyncio.ensure_future(process.feed(body))
        output = b""
        try:
            async with asyncio.timeout(settings.exec_timeout or None):
                output = await process.read_all(process.stdout)
                await process.wait()
        except TimeoutError:
            process.kill_group()
            await process.wait()
        finally:
            process.kill_group()
            feeder.cancel()
            for task in (feeder, relay):
                with contextlib.suppress(asyncio.CancelledError, OSError, TimeoutError):
                    await asyncio.wait_for(task, 1.0)
            process.close()
        code = process.returncode
        assert code is not None
        if code != 0:
            return plain(500, describe_exit(code))
        return web.Response(status=200, body=output, headers={"Content-Type": self._content_type})
