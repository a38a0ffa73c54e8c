"""``http`` mode (of-watchdog): start ``fprocess`` once and reverse-proxy every request to ``upstream_url``
with path and query unchanged, bodies streamed both ways (SSE and NDJSON pass through unbuffered).

Differences from of-watchdog, on purpose: the watchdog reports ready only once the upstream accepts TCP
connections (of-watchdog's first calls fail with 500), and on SIGTERM the child is stopped after the
in-flight requests have drained rather than immediately.

pyfaas extension: an ``upstream_url`` whose port is ``0`` gets a free port of its host for this instance,
passed to the child as ``http_port`` and ``PORT`` (the variables template servers read), so that many
replicas of one function can share a host (local mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web
from aiohttp.web_request import BaseRequest
from multidict import CIMultiDict

from pyfaas.core.durations import parse_duration
from pyfaas.system.http_headers import HOP_BY_HOP
from pyfaas.watchdog.function_processes import DEVNULL, ChildProcess, describe_exit, resolve_program
from pyfaas.watchdog.httputil import (
    DURATION_HEADER,
    INTERNAL_HEADER,
    BodyTooLarge,
    duration_value,
    iter_body,
    read_body,
)
from pyfaas.watchdog.runner import RunnerContext, StartupFailed

__all__ = ["HttpRunner"]

STOP_GRACE = 5.0
WHOLE_BODY_LIMIT = 256 * 1024


def _copy_headers(upstream: aiohttp.ClientResponse, response: web.StreamResponse) -> None:
    for key, value in upstream.headers.items():
        if key.lower() not in HOP_BY_HOP:
            response.headers.add(key, value)


def _assign_port(upstream: str, environ: dict[str, str]) -> str:
    """``upstream`` with a port of 0 replaced by a free one, which ``environ`` then carries to the child."""
    parts = urlsplit(upstream)
    if parts.port != 0:
        return upstream
    host = parts.hostname or "127.0.0.1"
    # The socket is closed before the child binds: a small window another process could take the port in,
    # after which the child fails to listen and the watchdog exits (and is restarted) like any failed start.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port = int(probe.getsockname()[1])
    environ["http_port"] = environ["PORT"] = str(port)
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


class HttpRunner:
    def __init__(self, context: RunnerContext) -> None:
        self._settings = context.settings
        self._environ = dict(context.environ)
        self._sink = context.sink
        self._fatal = context.fatal
        self._upstream = _assign_port(context.settings.upstream_url.rstrip("/"), self._environ)
        self._process: ChildProcess | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        settings = self._settings
        try:
            argv = resolve_program(settings.argv, self._environ)
            process = ChildProcess.spawn(argv, self._environ, stdin=DEVNULL, new_session=False)
        except OSError as exc:
            raise StartupFailed(f"cannot start {settings.argv[0]}: {exc}") from exc
        self._process = process
        assert process.stdout is not None and process.stderr is not None
        size = settings.log_buffer_size
        self._tasks = [
            asyncio.ensure_future(process.relay(process.stdout, self._sink, "stdout", size)),
            asyncio.ensure_future(process.relay(process.stderr, self._sink, "stderr", size)),
            asyncio.ensure_future(self._watch(process)),
        ]
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def _watch(self, process: ChildProcess) -> None:
        code = await process.wait()
        if not self._stopping:
            self._fatal(f"function process {self._settings.argv[0]} exited: {describe_exit(code)}")

    async def ready(self) -> None:
        """Wait until the upstream accepts connections (or the child dies, which is fatal)."""
        parts = urlsplit(self._upstream)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        delay = 0.005
        while True:
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    def _timeout(self, request: BaseRequest) -> float | None:
        limit = self._settings.exec_timeout
        if not limit:
            return None
        requested = request.headers.get("X-Timeout")
        if requested:
            with contextlib.suppress(ValueError):
                value = parse_duration(requested)
                if 0 < value < limit:
                    return value
        return limit

    async def handle(self, request: BaseRequest, started: float) -> web.StreamResponse:
        assert self._session is not None
        settings = self._settings
        headers = CIMultiDict(
            (key, value) for key, value in request.headers.items() if key.lower() not in HOP_BY_HOP
        )
        data: object = None
        if request.body_exists:
            if settings.buffer_http:
                data = await read_body(request, settings.max_body_bytes, settings.read_timeout)
                headers["Content-Length"] = str(len(data))  # type: ignore[arg-type,unused-ignore]
            else:
                data = iter_body(request, settings.max_body_bytes)
        response: web.StreamResponse | None = None
        try:
            async with asyncio.timeout(self._timeout(request)):
                async with self._session.request(
                    request.method,
                    self._upstream + request.raw_path,
                    headers=headers,
                    data=data,
                    allow_redirects=False,
                ) as upstream:
                    length = upstream.content_length
                    if length is not None and length <= WHOLE_BODY_LIMIT:
                        # A small body of known length goes out with the headers in one write.
                        whole = web.Response(
                            status=upstream.status, reason=upstream.reason, body=await upstream.read()
                        )
                        _copy_headers(upstream, whole)
                        return whole
                    response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                    _copy_headers(upstream, response)
                    response.headers[DURATION_HEADER] = duration_value(started)
                    await response.prepare(request)
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                    await response.write_eof()
                    return response
        except BodyTooLarge:
            if response is None:
                raise
            return response
        except TimeoutError:
            if response is not None:
                return response  # already streaming: the body is cut short
            return self._internal_error(504, started)
        except (aiohttp.ClientError, OSError) as exc:
            if response is not None:
                return response
            self._sink.line(f"upstream error: {exc}")
            return self._internal_error(500, started)

    @staticmethod
    def _internal_error(status: int, started: float) -> web.Response:
        return web.Response(
            status=status, headers={DURATION_HEADER: duration_value(started), INTERNAL_HEADER: "of-watchdog"}
        )

    async def stop(self) -> None:
        self._stopping = True
        process = self._process
        if process is not None:
            if process.returncode is None:
                process.kill_group(signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.shield(self._tasks[2]), STOP_GRACE)
                except TimeoutError:
                    process.kill_group()
            process.kill_group()
        if self._session is not None:
            await self._session.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 1.0)
        if process is not None:
            process.close()
