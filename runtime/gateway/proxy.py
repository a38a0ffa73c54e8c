"""Synchronous invocation: ``/function/{name}[/path][?query]``, any method, streamed both ways.

The upstream URL is ``replica.url + "/" + subpath + query`` with the path and query kept byte-for-byte raw.
Request headers are copied minus hop-by-hop ones (and those the ``Connection`` header names); the gateway adds
``X-Forwarded-Host`` and ``X-Forwarded-For`` (client IP only, see docs/compatibility.md) when absent,
``X-Call-Id`` (generated when absent, then also echoed) and ``X-Start-Time`` (Unix ns). Upstream response
headers win over the gateway's ``X-Served-By``/``X-Call-Id``/``X-Start-Time``.

Small bodies (declared length up to ``REPLAY_LIMIT``) are read whole: one write upstream, and the call can be
retried on another replica if the connection fails before an answer (a replica that just stopped during a
rolling update or scale-down). Larger or chunked bodies stream through unbuffered and are not retried.
Responses with a known small length are relayed as one write; anything else (SSE, NDJSON, large files)
streams chunk by chunk as it arrives.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, istr
from yarl import URL

from runtime.core.errors import PayloadTooLarge, ProviderError
from runtime.gateway.routing import FunctionRoute, ReplicaRouter
from runtime.provider.base import Replica

__all__ = ["HOP_BY_HOP", "FunctionProxy", "upstream_session"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Lower-case names of the headers that belong to one connection and are never passed on."""
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "expect"}
_NOT_RELAYED = HOP_BY_HOP | {"content-length"}
REPLAY_LIMIT = 1 << 20
"""Bodies up to this size are buffered (and replayable); larger ones stream."""
RELAY_WHOLE_LIMIT = 1 << 20
"""Responses with a Content-Length up to this size are relayed in one write."""
_MAX_ATTEMPTS = 3
_RETRY_WAIT = 1.0
"""Longest wait, per retry, for the ready set to change when the only replica just failed."""
_FUNCTION_PREFIX_LEN = len("/function/")
_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")

X_CALL_ID = istr("X-Call-Id")
X_START_TIME = istr("X-Start-Time")
X_SERVED_BY = istr("X-Served-By")
X_FORWARDED_HOST = istr("X-Forwarded-Host")
X_FORWARDED_FOR = istr("X-Forwarded-For")
USER_AGENT = istr("User-Agent")


def upstream_session(upstream_timeout: float) -> aiohttp.ClientSession:
    """The one pooled keep-alive session every invocation shares (cookies never stored, bodies untouched)."""
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30.0, ttl_dns_cache=60)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=upstream_timeout, sock_connect=min(5.0, upstream_timeout)),
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=_NO_AUTO_HEADERS,
    )


class _CountedBody:
    """A streamed request body that stops (and says so) once it passes the size limit."""

    def __init__(self, request: web.Request, limit: int) -> None:
        self._request = request
        self._limit = limit
        self.exceeded = False

    async def chunks(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self._request.content.iter_any():
            total += len(chunk)
            if self._limit and total > self._limit:
                self.exceeded = True
                return
            yield chunk


class FunctionProxy:
    def __init__(
        self,
        router: ReplicaRouter,
        session: aiohttp.ClientSession,
        *,
        served_by: str,
        user_agent: str,
        max_body_bytes: int,
    ) -> None:
        self._router = router
        self._session = session
        self._served_by = served_by
        self._user_agent = user_agent
        self._max_body = max_body_bytes

    async def handle(self, request: web.Request) -> web.StreamResponse:
        route = await self._router.route(request.match_info["name"])
        metrics = route.metrics
        metrics.started.inc()
        metrics.inflight.inc()
        started = time.perf_counter()
        code = 502
        try:
            response = await self._forward(request, route)
            code = response.status
            return response
        except Exception as exc:
            code = getattr(exc, "status", 500)
            raise
        finally:
            metrics.inflight.dec()
            metrics.completed(code, time.perf_counter() - started)

    def _upstream_headers(
        self, request: web.Request, call_id: str | None, start_time: str
    ) -> CIMultiDict[str]:
        incoming = request.headers
        dropped = _NOT_FORWARDED
        connection = incoming.get("Connection")
        if connection:
            # Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1).
            dropped = dropped | {token.strip().lower() for token in connection.split(",")}
        headers: CIMultiDict[str] = CIMultiDict(
            (key, value) for key, value in incoming.items() if key.lower() not in dropped
        )
        if X_FORWARDED_HOST not in headers:
            headers[X_FORWARDED_HOST] = request.host
        if X_FORWARDED_FOR not in headers and request.remote:
            headers[X_FORWARDED_FOR] = request.remote
        if call_id is not None:
            headers[X_CALL_ID] = call_id
        headers[X_START_TIME] = start_time
        if USER_AGENT not in headers:
            headers[USER_AGENT] = self._user_agent
        return headers

    async def _forward(self, request: web.Request, route: FunctionRoute) -> web.StreamResponse:
        start_time = str(time.time_ns())
        call_id = None if X_CALL_ID in request.headers else str(uuid.uuid4())
        headers = self._upstream_headers(request, call_id, start_time)

        data: bytes | AsyncIterator[bytes] | None = None
        counted: _CountedBody | None = None
        replayable = True
        if request.body_exists:
            length = request.content_length
            if length is not None and length <= REPLAY_LIMIT:
                data = await request.read()
            else:
                counted = _CountedBody(request, self._max_body)
                data = counted.chunks()
                replayable = False
                if length is not None:
                    headers["Content-Length"] = str(length)

        tail = _tail(request.raw_path)
        exclude: Replica | None = None
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            replica = await self._router.ready_replica(route, exclude)
            replica.in_flight += 1
            try:
                async with self._session.request(
                    request.method,
                    URL(replica.url + tail, encoded=True),
                    headers=headers,
                    data=data,
                    allow_redirects=False,
                ) as upstream:
                    if counted is not None and counted.exceeded:
                        raise PayloadTooLarge(
                            f"request body exceeds max_body_bytes={self._max_body}", field="body"
                        )
                    return await self._relay(request, upstream, call_id, start_time)
            except _CONNECT_ERRORS as exc:
                if not replayable or attempt == _MAX_ATTEMPTS:
                    raise ProviderError(f"cannot reach {route.function_name}: {exc}") from exc
                exclude = replica
                if route.pick(exclude) is None:
                    await route.wait_change(_RETRY_WAIT)
                    if route.pick(exclude) is None:
                        raise ProviderError(f"cannot reach {route.function_name}: {exc}") from exc
            except TimeoutError as exc:
                raise ProviderError(f"{route.function_name} did not answer within upstream_timeout") from exc
            except aiohttp.ClientError as exc:
                raise ProviderError(f"upstream error from {route.function_name}: {exc}") from exc
            finally:
                replica.in_flight -= 1
        raise AssertionError("unreachable")  # pragma: no cover

    async def _relay(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        call_id: str | None,
        start_time: str,
    ) -> web.StreamResponse:
        headers: CIMultiDict[str] = CIMultiDict(
            (key, value) for key, value in upstream.headers.items() if key.lower() not in _NOT_RELAYED
        )
        headers.setdefault(X_SERVED_BY, self._served_by)
        headers.setdefault(X_START_TIME, start_time)
        if call_id is not None:
            headers.setdefault(X_CALL_ID, call_id)
        length = upstream.content_length
        if request.method == "HEAD" or upstream.status in (204, 304):
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
            if length is not None and upstream.status != 204:
                response.content_length = length
            await response.prepare(request)
            await response.write_eof()
            return response
        if length is not None and length <= RELAY_WHOLE_LIMIT:
            body = await upstream.read()
            return web.Response(status=upstream.status, reason=upstream.reason, headers=headers, body=body)
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (aiohttp.ClientError, TimeoutError):
            # Headers are gone already: the only honest signal left is an incomplete body.
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response


def _tail(raw_path: str) -> str:
    """``/function/NAME/rest?q`` → ``/rest?q``; ``/function/NAME?q`` → ``/?q``."""
    rest = raw_path[_FUNCTION_PREFIX_LEN:]
    slash = rest.find("/")
    query = rest.find("?")
    if query != -1 and (slash == -1 or query < slash):
        return "/" + rest[query:]
    return rest[slash:] if slash != -1 else "/"
