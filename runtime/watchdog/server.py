"""The request path every mode shares: internal routes, concurrency limit, body limit, duration header,
metrics and the access log. Built on aiohttp's low-level server (no router, no middleware chain)."""

from __future__ import annotations

import asyncio
import time
import traceback

from aiohttp import web
from aiohttp.web_request import BaseRequest

from pyfaas.core.limits import MAX_BODY_HEADER
from pyfaas.core.telemetry import ActiveSpan, Tracing
from pyfaas.core.tracecontext import TRACEPARENT, TRACESTATE, trace_id_of
from pyfaas.watchdog.health import Health
from pyfaas.watchdog.httputil import DURATION_HEADER, BodyTooLarge, plain
from pyfaas.watchdog.logs import LogSink
from pyfaas.watchdog.metrics import CONTENT_TYPE_LATEST, WatchdogMetrics
from pyfaas.watchdog.replica_key import KEY_VALID
from pyfaas.watchdog.runner import Runner
from pyfaas.watchdog.settings import WatchdogSettings

__all__ = ["Dispatcher", "human_size"]

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human_size(size: float) -> str:
    """docker/go-units ``HumanSize``: decimal units, four significant digits (``12B``, ``1.5kB``)."""
    unit = 0
    while size >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.4g}{_UNITS[unit]}"


class Dispatcher:
    """The low-level aiohttp handler: one instance per watchdog."""

    def __init__(
        self,
        settings: WatchdogSettings,
        runner: Runner,
        health: Health,
        metrics: WatchdogMetrics,
        sink: LogSink,
        tracing: Tracing | None = None,
        *,
        keyed: bool = False,
    ) -> None:
        self._settings = settings
        self._keyed = keyed
        """Requests must carry the replica key (the request factory of ``pyfaas.watchdog.replica_key``)."""
        self._tracing = tracing
        self._span_name = f"function {settings.hostname}"
        self._runner = runner
        self._health = health
        self._metrics = metrics
        self._sink = sink
        self._limit = settings.max_inflight
        self._max_body = settings.max_body_bytes
        self.in_flight = 0
        self._idle: asyncio.Event | None = None

    async def __call__(self, request: BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        if self._keyed and not request[KEY_VALID] and request.path != "/_/health":
            return plain(403, "Forbidden: this replica is reached through the gateway only\n")
        if request.raw_path.startswith("/_/"):
            internal = await self._internal(request, started)
            if internal is not None:
                return internal
        return await self.invoke(request, started)

    async def invoke(self, request: BaseRequest, started: float) -> web.StreamResponse:
        """Run the function for ``request`` with limits, metrics and the access log."""
        response: web.StreamResponse
        span: ActiveSpan | None = None
        if self._tracing is not None:
            request, span = self._traced(request)
        if self._limit and self.in_flight >= self._limit:
            response = self.too_many()
        else:
            self.in_flight += 1
            try:
                length = request.content_length
                if self._max_body and length is not None and length > self._max_body:
                    raise BodyTooLarge(self._max_body)
                response = await self._runner.handle(request, started)
            except BodyTooLarge as exc:
                response = plain(413, f"{exc}\n", {MAX_BODY_HEADER: str(exc.limit)})
            except TimeoutError:
                response = plain(408, "Timed out reading the request body\n")
            except Exception:
                self._sink.line("request failed:\n" + traceback.format_exc().rstrip())
                response = plain(500, "Internal Server Error\n")
            finally:
                self.in_flight -= 1
                if self._idle is not None and not self.in_flight:
                    self._idle.set()
        elapsed = time.perf_counter() - started
        if not response.prepared:
            response.headers[DURATION_HEADER] = f"{elapsed:f}"
        self._metrics.observe(request.method, response.status, elapsed)
        self._access_log(request, response, elapsed)
        if span is not None:
            span.end(status=response.status)
        return response

    def _traced(self, request: BaseRequest) -> tuple[BaseRequest, ActiveSpan]:
        """The function's span; the function sees it as its parent (header, and python mode's context)."""
        assert self._tracing is not None
        headers = request.headers
        span = self._tracing.start(
            self._span_name,
            headers.get(TRACEPARENT),
            headers.get(TRACESTATE),
            kind="server",
            attributes={"http.request.method": request.method},
        )
        forwarded = headers.copy()
        forwarded[TRACEPARENT] = span.traceparent
        return request.clone(headers=forwarded), span

    async def wait_idle(self, deadline: float) -> bool:
        """Wait until no function request is running; ``False`` if ``deadline`` seconds passed first."""
        if not self.in_flight:
            return True
        self._idle = asyncio.Event()
        try:
            async with asyncio.timeout(deadline):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def too_many(self) -> web.Response:
        return plain(
            429,
            f"Concurrent request limit exceeded. Max concurrent requests: {self._limit}\n",
            {"X-OpenFaaS-Internal": "faas-middleware"},
        )

    def _access_log(self, request: BaseRequest, response: web.StreamResponse, elapsed: float) -> None:
        agent = request.headers.get("User-Agent")
        if agent is not None and agent.startswith("kube-probe"):
            return
        size = response.body_length if response.prepared else (response.content_length or 0)
        status: str | int = response.status
        if self._settings.mode == "http":
            status = f"{response.status} {response.reason}"
        line = (
            f"{request.method} {request.raw_path} - {status} - ContentLength: {human_size(size)} "
            f"({elapsed:.4f}s)"
        )
        if self._settings.log_callid:
            line += f" [{request.headers.get('X-Call-Id', 'none')}]"
        traceparent = request.headers.get(TRACEPARENT)
        if traceparent is not None:
            line += f" [trace {trace_id_of(traceparent) or 'invalid'}]"
        self._sink.single_line(line)

    async def _internal(self, request: BaseRequest, started: float) -> web.StreamResponse | None:
        path = request.path
        response: web.StreamResponse
        if path == "/_/health":
            if request.method not in ("GET", "HEAD"):
                response = plain(405, "Method Not Allowed\n")
            elif self._health.healthy:
                response = web.Response(text="OK", content_type="text/plain")
            else:
                response = web.Response(status=503)
        elif path == "/_/ready":
            if request.method not in ("GET", "HEAD"):
                response = plain(405, "Method Not Allowed\n")
            elif not self._health.healthy:
                response = web.Response(status=503)
            elif self._limit and self.in_flight >= self._limit:
                response = self.too_many()
            elif self._settings.ready_path:
                return await self.invoke(request.clone(rel_url=self._settings.ready_path), started)
            else:
                response = web.Response(status=200)
        elif path == "/_/metrics":
            response = web.Response(
                body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )
        else:
            return None
        response.headers[DURATION_HEADER] = f"{time.perf_counter() - started:f}"
        return response


def metrics_handler(metrics: WatchdogMetrics) -> web.Server:
    """The separate metrics listener (``metrics_port``): ``/metrics`` only."""

    async def serve(request: BaseRequest) -> web.StreamResponse:
        if request.path != "/metrics":
            return plain(404, "404 page not found\n")
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return web.Server(serve, access_log=None)
