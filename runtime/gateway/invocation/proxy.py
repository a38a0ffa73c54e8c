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

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping

import aiohttp
from aiohttp import web
from aiohttp.streams import StreamReader
from multidict import CIMultiDictProxy, istr
from yarl import URL

from pyfaas.core.errors import PayloadTooLarge, ProviderError
from pyfaas.core.limits import MAX_BODY_HEADER
from pyfaas.core.replica_key import REPLICA_KEY_HEADER
from pyfaas.core.telemetry import ActiveSpan, Tracing
from pyfaas.core.timeouts import FunctionTimedOut
from pyfaas.core.tracecontext import new_traceparent
from pyfaas.core.tracecontext import parse as parse_traceparent
from pyfaas.gateway.async_calls.call_ledger import ATTEMPT_HEADER, CallLedger
from pyfaas.gateway.invocation.deadlines import Deadlines
from pyfaas.gateway.invocation.routing import CALL_STATUS, FunctionRoute, ReplicaRouter
from pyfaas.gateway.invocation.upstream import Endpoint, UpstreamClient, UpstreamConnectError, endpoint_of
from pyfaas.provider.base import Replica
from pyfaas.system.http_headers import HOP_BY_HOP, hop_by_hop

__all__ = ["FunctionProxy", "upstream_session"]

# A caller's own replica key header is dropped: the gateway sends the replica's (pyfaas.core.replica_key).
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "expect", "x-start-time", REPLICA_KEY_HEADER.lower()}
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


class _Outgoing:
    """One call on its way to a replica: what every attempt sends and what the relay adds to the answer."""

    __slots__ = (
        "call_id",
        "counted",
        "data",
        "headers",
        "length",
        "replayable",
        "request",
        "start_time",
        "tail",
    )

    def __init__(
        self,
        request: web.Request,
        tail: str,
        headers: list[tuple[str, str]],
        call_id: str | None,
        start_time: str,
    ) -> None:
        self.request = request
        self.tail = tail
        """The raw sub-path and query, percent-encoding kept."""
        self.headers = headers
        self.call_id = call_id
        """Generated here (then also sent back) when the client sent none."""
        self.start_time = start_time
        self.length = request.content_length
        self.data: bytes | AsyncIterator[bytes] | None = None
        self.counted: _CountedBody | None = None
        self.replayable = True
        """Whether another replica may be tried: a streamed body can be sent only once."""

    async def take_body(self, limit: int) -> None:
        """Small bodies are read whole (one write upstream, replayable); larger or chunked ones stream."""
        request = self.request
        if self.length is not None and self.length <= REPLAY_LIMIT:
            self.data = await request.read()
        else:
            self.counted = _CountedBody(request, limit)
            self.data = self.counted.chunks()
            self.replayable = False


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
        client: UpstreamClient,
        *,
        served_by: str,
        user_agent: str,
        max_body_bytes: int,
        upstream_timeout: float,
        ledger: CallLedger | None = None,
        count_replay: Callable[[], None] = lambda: None,
        tracing: Tracing | None = None,
    ) -> None:
        self._router = router
        self._tracing = tracing
        self._ledger = ledger
        # The hot path's whole cost for the ledger: the truthiness of this dict (empty until an async call is
        # issued), then a header lookup.
        self._issued: Mapping[str, object] = ledger.issued if ledger is not None else {}
        self._count_replay = count_replay
        self._session = session
        self._client = client
        self._served_by = served_by
        self._user_agent = user_agent
        self._max_body = max_body_bytes
        self._timeout = upstream_timeout
        self._endpoints: dict[str, Endpoint | None] = {}
        self._deadlines = Deadlines(upstream_timeout)
        self._timed: dict[float, Deadlines] = {}
        """One timer per distinct declared function timeout (each keeps its calls in deadline order)."""

    def _deadlines_for(self, route: FunctionRoute) -> tuple[Deadlines, float]:
        timeout = route.timeout
        if timeout is None:
            return self._deadlines, self._timeout
        deadlines = self._timed.get(timeout)
        if deadlines is None:
            deadlines = self._timed[timeout] = Deadlines(timeout)
        return deadlines, timeout

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``/function/NAME``: a worker's delivery of an issued async call goes through the ledger; every
        other call runs straight away."""
        if self._issued and ATTEMPT_HEADER in request.headers:
            return await self._replay_or_run(request)
        return await self._run(request)

    async def _run(self, request: web.Request) -> web.StreamResponse:
        """One call: resolve the function, count it, forward it."""
        name = request.match_info["name"]
        route = self._router.cached(name) or await self._router.route(name, request.get(CALL_STATUS))
        metrics = route.metrics
        metrics.begin()
        started = time.perf_counter()
        code = 502
        span: ActiveSpan | None = None
        if self._tracing is not None:
            span = self._tracing.start(
                "gateway",
                request.headers.get("traceparent"),
                request.headers.get("tracestate"),
                kind="server",
                attributes={"faas.function": route.function_name, "http.request.method": request.method},
            )
        try:
            response = await self._forward(request, route, span)
            code = response.status
            return response
        except Exception as exc:
            code = getattr(exc, "status", 500)
            raise
        finally:
            metrics.completed(code, time.perf_counter() - started)
            if span is not None:
                span.end(status=code)

    async def _replay_or_run(self, request: web.Request) -> web.StreamResponse:
        """A worker's request for an async call: run it once, give repeated requests the same answer."""
        ledger = self._ledger
        name = request.match_info["name"]
        call_id = request.headers.get(X_CALL_ID)
        if ledger is None or call_id is None or not ledger.eligible(call_id, name):
            return await self._run(request)
        while True:
            answer = ledger.answer(call_id)
            if answer is None:
                running = ledger.running(call_id)
                if running is None:
                    break
                # Single-flight: wait for the run in progress (shielded: giving up here must not cancel it);
                # no kept answer (an error, a retryable status) → loop and run it ourselves.
                answer = await asyncio.shield(running)
                if answer is None:
                    continue
            self._count_replay()
            return answer.response()
        ledger.begin(call_id)
        response: web.StreamResponse | None = None
        try:
            response = await self._run(request)
            return response
        finally:
            ledger.finish(call_id, name, response)

    def _endpoint(self, url: str) -> Endpoint | None:
        try:
            return self._endpoints[url]
        except KeyError:
            if len(self._endpoints) > 4096:  # replicas come and go with new ports; keep the map small
                self._endpoints.clear()
            endpoint = self._endpoints[url] = endpoint_of(url)
            return endpoint

    def _upstream_headers(
        self, request: web.Request, call_id: str | None, start_time: str, span: ActiveSpan | None = None
    ) -> list[tuple[str, str]]:
        connection = request.headers.get("Connection")
        dropped = hop_by_hop(connection, also=_NOT_FORWARDED) if connection else _NOT_FORWARDED
        headers: list[tuple[str, str]] = []
        forwarded_host = forwarded_for = user_agent = False
        traceparent: str | None = None
        for key, value in request.headers.items():
            lowered = key.lower()
            if lowered in dropped:
                continue
            if lowered == "traceparent":
                traceparent = value
                continue
            if lowered == "x-forwarded-host":
                forwarded_host = True
            elif lowered == "x-forwarded-for":
                forwarded_for = True
            elif lowered == "user-agent":
                user_agent = True
            headers.append((key, value))
        if not forwarded_host:
            headers.append(("X-Forwarded-Host", request.host))
        if not forwarded_for and request.remote:
            headers.append(("X-Forwarded-For", request.remote))
        if call_id is not None:
            headers.append(("X-Call-Id", call_id))
        headers.append(("X-Start-Time", start_time))
        if not user_agent:
            headers.append(("User-Agent", self._user_agent))
        # W3C trace context: the function always gets a traceparent (this hop's span when exporting)
        if span is not None:
            headers.append(("traceparent", span.traceparent))
        elif traceparent is None or parse_traceparent(traceparent) is None:
            headers.append(("traceparent", new_traceparent()))
        else:
            headers.append(("traceparent", traceparent))
        return headers

    async def _forward(
        self, request: web.Request, route: FunctionRoute, span: ActiveSpan | None = None
    ) -> web.StreamResponse:
        """Send the call to a ready replica, trying another one when a replayable call cannot connect."""
        start_time = str(time.time_ns())
        call_id = None if X_CALL_ID in request.headers else _new_call_id()
        out = _Outgoing(
            request,
            _tail(request.raw_path),
            self._upstream_headers(request, call_id, start_time, span),
            call_id,
            start_time,
        )
        if request.body_exists:
            await out.take_body(self._max_body)
        exclude: Replica | None = None
        deadlines, limit = self._deadlines_for(route)
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            replica = route.pick(exclude) or await self._router.ready_replica(
                route, exclude, request.get(CALL_STATUS) if attempt == 1 else None
            )
            endpoint = self._endpoint(replica.url)
            replica.in_flight += 1
            call = deadlines.enter()
            try:
                if endpoint is not None:
                    return await self._via_client(out, endpoint, replica.key)
                return await self._via_session(out, replica, None if route.timeout is None else limit)
            except (UpstreamConnectError, *_CONNECT_ERRORS) as exc:
                if not out.replayable or attempt == _MAX_ATTEMPTS:
                    raise ProviderError(f"cannot reach {route.function_name}: {exc}") from exc
                exclude = replica
                deadlines.leave(call)  # the next attempt gets a deadline of its own
                if route.pick(exclude) is None:
                    await route.wait_change(_RETRY_WAIT)
                    if route.pick(exclude) is None:
                        raise ProviderError(f"cannot reach {route.function_name}: {exc}") from exc
            except TimeoutError as exc:
                raise FunctionTimedOut(route.function_name, limit) from exc
            except asyncio.CancelledError:
                if call.expired:
                    raise FunctionTimedOut(route.function_name, limit) from None
                raise
            except (aiohttp.ClientError, ConnectionError) as exc:
                raise ProviderError(f"upstream error from {route.function_name}: {exc}") from exc
            finally:
                deadlines.leave(call)
                replica.in_flight -= 1
        raise AssertionError("unreachable")  # pragma: no cover

    async def _via_client(self, out: _Outgoing, endpoint: Endpoint, key: str | None) -> web.StreamResponse:
        """The lean pooled client: plain ``http://`` replicas (every local and in-cluster one)."""
        request = out.request
        headers = out.headers if key is None else [*out.headers, (REPLICA_KEY_HEADER, key)]
        upstream = await self._client.request(
            endpoint, request.method, out.tail, headers, out.data, content_length=out.length
        )
        try:
            _check_body(out.counted, self._max_body)
            message = upstream.message
            return await self._relay(out, message.code, message.reason, message.headers, upstream.payload)
        finally:
            upstream.release()

    async def _via_session(
        self, out: _Outgoing, replica: Replica, function_timeout: float | None
    ) -> web.StreamResponse:
        """``aiohttp.ClientSession``: replica URLs the lean client does not take (https, a path prefix)."""
        wire_headers = list(out.headers)
        if replica.key is not None:
            wire_headers.append((REPLICA_KEY_HEADER, replica.key))
        if out.counted is not None and out.length is not None:
            wire_headers.append(("Content-Length", str(out.length)))
        async with self._session.request(
            out.request.method,
            URL(replica.url + out.tail, encoded=True),
            headers=wire_headers,
            data=out.data,
            allow_redirects=False,
            timeout=self._session.timeout if function_timeout is None else _client_timeout(function_timeout),
        ) as response:
            _check_body(out.counted, self._max_body)
            return await self._relay(
                out, response.status, response.reason or "", response.headers, response.content
            )

    async def _relay(
        self,
        out: _Outgoing,
        status: int,
        reason: str,
        upstream_headers: CIMultiDictProxy[str],
        payload: StreamReader,
    ) -> web.StreamResponse:
        request, call_id = out.request, out.call_id
        # A list, not a CIMultiDict: the response builds its own from it (one copy instead of two).
        if status == 413 and MAX_BODY_HEADER in upstream_headers:
            # The function's watchdog refused the body (its limit is below ours): answer as for our own.
            limit = upstream_headers[MAX_BODY_HEADER]
            raise PayloadTooLarge(f"request body exceeds the function's max_body_bytes={limit}", field="body")
        headers: list[tuple[str, str]] = []
        served_by = start = call = False
        for key, value in upstream_headers.items():
            lowered = key.lower()
            if lowered in _NOT_RELAYED:
                continue
            if lowered == "x-served-by":
                served_by = True
            elif lowered == "x-start-time":
                start = True
            elif lowered == "x-call-id":
                call = True
            headers.append((key, value))
        if not served_by:
            headers.append((X_SERVED_BY, self._served_by))
        if not start:
            headers.append((X_START_TIME, out.start_time))
        if call_id is not None and not call:
            headers.append((X_CALL_ID, call_id))
        raw_length = upstream_headers.get("Content-Length")
        length = int(raw_length) if raw_length is not None and raw_length.isdigit() else None
        if request.method == "HEAD" or status in (204, 304):
            response = web.StreamResponse(status=status, reason=reason, headers=headers)
            if length is not None and status != 204:
                response.content_length = length
            await response.prepare(request)
            await response.write_eof()
            return response
        if (
            length is not None
            and length <= RELAY_WHOLE_LIMIT
            and "chunked" not in upstream_headers.get("Transfer-Encoding", "")
        ):
            body = await payload.read()
            return web.Response(status=status, reason=reason, headers=headers, body=body)
        response = web.StreamResponse(status=status, reason=reason, headers=headers)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        try:
            async for chunk in payload.iter_any():
                await response.write(chunk)
        except (aiohttp.ClientError, TimeoutError, ConnectionError):
            # Headers are gone already: the only honest signal left is an incomplete body.
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response


_UUID_V4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID_V4_SET = (0x8000 << 48) | (0x4000 << 64)  # RFC 4122 variant, version 4


def _new_call_id() -> str:
    # A UUIDv4 from the process PRNG: call ids identify, they do not authenticate, and this avoids a
    # getrandom() system call per invocation. Formatted by hand: the same text as
    # str(uuid.UUID(int=bits, version=4)) in about a third of the time.
    text = f"{random.getrandbits(128) & _UUID_V4_CLEAR | _UUID_V4_SET:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _client_timeout(limit: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=limit, sock_connect=min(5.0, limit))


def _check_body(counted: _CountedBody | None, limit: int) -> None:
    if counted is not None and counted.exceeded:
        raise PayloadTooLarge(f"request body exceeds max_body_bytes={limit}", field="body")


def _tail(raw_path: str) -> str:
    """``/function/NAME/rest?q`` → ``/rest?q``; ``/function/NAME?q`` → ``/?q``."""
    rest = raw_path[_FUNCTION_PREFIX_LEN:]
    slash = rest.find("/")
    query = rest.find("?")
    if query != -1 and (slash == -1 or query < slash):
        return "/" + rest[query:]
    return rest[slash:] if slash != -1 else "/"
