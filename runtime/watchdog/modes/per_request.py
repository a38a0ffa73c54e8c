"""What the three process-per-request modes (``fork``, ``serializing``, ``streaming``) share: the program
resolved once from ``fprocess``, a ``Spawner``, nothing to prepare at start, the spawner closed at stop, and
a failed spawn answered with 500 and logged, and of-watchdog's default ``content_type``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web
from aiohttp.web_request import BaseRequest

from pyfaas.watchdog.cgi import cgi_environment
from pyfaas.watchdog.function_processes import PIPE, ChildProcess, Spawner, resolve_program
from pyfaas.watchdog.httputil import plain
from pyfaas.watchdog.runner import RunnerContext

__all__ = ["ProcessPerRequestRunner"]


class ProcessPerRequestRunner:
    """Base of the modes that start ``fprocess`` for every request; subclasses implement ``handle``."""

    def __init__(self, context: RunnerContext) -> None:
        self._settings = context.settings
        self._environ = dict(context.environ)
        self._sink = context.sink
        self._argv = resolve_program(context.settings.argv, self._environ)
        self._spawner = Spawner()
        self._content_type = context.settings.content_type or "application/octet-stream"
        """Of every answer in the of-watchdog modes (fork mode decides per request instead)."""

    async def start(self) -> None:
        return None

    async def ready(self) -> None:
        return None

    async def stop(self) -> None:
        self._spawner.close()

    async def _spawn(self, env: Mapping[str, str], *, stderr: int = PIPE) -> ChildProcess | web.Response:
        """The function process for one request, or the 500 to answer when it cannot be started."""
        try:
            return await self._spawner.spawn(self._argv, env, stderr=stderr)
        except OSError as exc:
            self._sink.line(f"cannot start {self._argv[0]}: {exc}")
            return plain(500, f"{exc}\n")

    async def _spawn_relaying_stderr(
        self, request: BaseRequest
    ) -> tuple[ChildProcess, asyncio.Future[None]] | web.Response:
        """of-watchdog's function process: CGI ``Http_*`` environment, stderr relayed to the log line by line
        (the future ends with the stream); or the 500 when it cannot be started."""
        process = await self._spawn(cgi_environment(self._environ, request, classic=False))
        if isinstance(process, web.Response):
            return process
        assert process.stdout is not None and process.stderr is not None
        relay = asyncio.ensure_future(
            process.relay(process.stderr, self._sink, "stderr", self._settings.log_buffer_size)
        )
        return process, relay
