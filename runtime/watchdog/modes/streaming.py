"""``streaming`` mode (of-watchdog's default): one process per request; the request body streamed to
stdin, stdout streamed to the client as it is written. Headers (200, ``content_type``) go out with the
first output, before the process ends, so a failure or an ``exec_timeout`` kill only truncates the body."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web
from aiohttp.web_request import BaseRequest

from pyfaas.watchdog.function_processes import ChildProcess, describe_exit
from pyfaas.watchdog.httputil import DURATION_HEADER, BodyTooLarge, duration_value, iter_body
from pyfaas.watchdog.modes.per_request import ProcessPerRequestRunner

__all__ = ["StreamingRunner"]


class StreamingRunner(ProcessPerRequestRunner):
    async def handle(self, request: BaseRequest, started: float) -> web.StreamResponse:
        settings = self._settings
        spawned = await self._spawn_relaying_stderr(request)
        if isinstance(spawned, web.Response):
            return spawned
        process, relay = spawned
        assert process.stdout is not None
        feeder = asyncio.ensure_future(self._feed(request, process))
        response = web.StreamResponse(status=200, headers={"Content-Type": self._content_type})
        try:
            async with asyncio.timeout(settings.exec_timeout or None):
                chunk = await process.read(process.stdout)
                if feeder.done() and not feeder.cancelled() and isinstance(feeder.exception(), BodyTooLarge):
                    raise BodyTooLarge(settings.max_body_bytes)
                response.headers[DURATION_HEADER] = duration_value(started)
                await response.prepare(request)
                while chunk:
                    await response.write(chunk)
                    chunk = await process.read(process.stdout)
                code = await process.wait()
                if code != 0:
                    self._sink.line(f"{self._argv[0]}: {describe_exit(code)}")
        except TimeoutError:
            self._sink.line(f"{self._argv[0]}: killed after exec_timeout {settings.exec_timeout}s")
        except ConnectionError:
            if not response.prepared:
                raise
            self._sink.line(f"{self._argv[0]}: client went away, process stopped")
        finally:
            process.kill_group()
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeder
            await process.wait()
            with contextlib.suppress(asyncio.CancelledError, OSError, TimeoutError):
                await asyncio.wait_for(relay, 1.0)
            process.close()
        if response.prepared:
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
        return response

    async def _feed(self, request: BaseRequest, process: ChildProcess) -> None:
        try:
            if request.body_exists:
                async for chunk in iter_body(request, self._settings.max_body_bytes):
                    if not await process.write(chunk):
                        break
        except BodyTooLarge:
            process.kill_group()
            raise
        finally:
            process.close_stdin()
