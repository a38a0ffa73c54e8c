"""Asynchronous invocation: ``/async-function/{name}[/path]`` and the ``/system/async/`` API.

A submission is answered 202 with ``X-Call-Id`` only after JetStream has acknowledged storing it; an
unknown function is 404 at submission, a non-http(s) ``X-Callback-Url`` 400, a body above
``async_max_body_bytes`` 413, an unreachable NATS 503. The function's annotations travel in the
QueueRequest so the worker applies per-function retry overrides without a lookup.

Wiring: ``setup_async(app, AsyncSettings.from_env(os.environ))`` from the gateway's ``__main__`` (as an
extension of ``create_app``). Routes under ``/system/`` are behind the gateway's auth middleware.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

from aiohttp import web
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from pydantic import Field

from pyfaas.core.errors import (
    ConfigError,
    FunctionNotFound,
    NotFound,
    PayloadTooLarge,
    QueueUnavailable,
    ValidationFailed,
)
from pyfaas.core.limits import DEFAULT_ASYNC_MAX_BODY_BYTES
from pyfaas.core.models import AsyncCallRecord, CallbackURL, FunctionStatus, QueueRequest
from pyfaas.core.names import DNS1123_LABEL, split_name
from pyfaas.core.queue_layout import QueueSettings, is_valid_call_id
from pyfaas.core.settings import Duration
from pyfaas.core.tracecontext import TRACEPARENT, TRACESTATE, ensure, trace_id_of
from pyfaas.gateway.async_calls.call_ledger import CALL_LEDGER
from pyfaas.gateway.async_calls.dead_letters import add_dead_letter_routes
from pyfaas.gateway.async_calls.queue import AsyncQueue
from pyfaas.gateway.keys import PROVIDER, SETTINGS, TRACING
from pyfaas.provider.base import Provider

__all__ = ["ASYNC_QUEUE", "ASYNC_SETTINGS", "AsyncSettings", "setup_async"]

log = logging.getLogger("pyfaas.gateway.async")


class AsyncSettings(QueueSettings):
    """Async-path settings (NATS location and layout names come from :class:`QueueSettings`)."""

    async_max_body_bytes: int = Field(DEFAULT_ASYNC_MAX_BODY_BYTES, ge=1)
    """Largest async request body (OpenFaaS CE: 256,000 bytes); 413 above it. At most the gateway's
    ``max_body_bytes``: the queued call later runs as a synchronous one."""
    async_publish_timeout: Duration = 5.0
    """Seconds to wait for JetStream's publish acknowledgement before answering 503."""
    async_lookup_cache: Duration = 2.0
    """Seconds a function found at submission is remembered (a Kubernetes provider lookup costs an API call);
    0 looks it up every time. Unknown functions are never cached."""


class _FunctionCache:
    """Recently found functions (their annotations travel with each queued call)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, FunctionStatus]] = {}

    async def get(self, provider: Provider, name: str, namespace: str) -> FunctionStatus:
        now = time.monotonic()
        hit = self._entries.get((name, namespace))
        if hit is not None and hit[0] > now:
            return hit[1]
        function = await provider.get_function(name, namespace)
        if self.ttl > 0:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[(name, namespace)] = (now + self.ttl, function)
        return function


ASYNC_QUEUE: web.AppKey[AsyncQueue] = web.AppKey("async_queue", AsyncQueue)
ASYNC_SETTINGS: web.AppKey[AsyncSettings] = web.AppKey("async_settings", AsyncSettings)
_FUNCTIONS: web.AppKey[_FunctionCache] = web.AppKey("async_function_cache", _FunctionCache)


def setup_async(app: web.Application, settings: AsyncSettings) -> None:
    """Register the async routes and the NATS connection (a ``cleanup_ctx``) on the gateway app."""
    gateway = app.get(SETTINGS)  # absent when the async routes are mounted on an app of their own
    sync_limit = gateway.max_body_bytes if gateway is not None else 0
    if sync_limit and settings.async_max_body_bytes > sync_limit:
        raise ConfigError(
            f"async_max_body_bytes={settings.async_max_body_bytes} exceeds max_body_bytes={sync_limit}: "
            "such a call would be queued, then refused when it runs",
            field="async_max_body_bytes",
        )
    app[ASYNC_SETTINGS] = settings
    app[_FUNCTIONS] = _FunctionCache(settings.async_lookup_cache)
    app[ASYNC_QUEUE] = AsyncQueue(settings.nats_servers(), settings.layout(), request_timeout=5.0)
    app.cleanup_ctx.append(_queue_context)
    for suffix in ("", "/", "/{path:.*}"):
        app.router.add_route("*", "/async-function/{name}" + suffix, submit_call)
    add_dead_letter_routes(app, ASYNC_QUEUE)
    app.router.add_get("/system/async/{call_id}", call_status)


async def _queue_context(app: web.Application) -> AsyncIterator[None]:
    queue = app[ASYNC_QUEUE]
    queue.start()
    yield
    await queue.close()


def _headers_of(request: web.Request) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for key, value in request.headers.items():
        headers.setdefault(key, []).append(value)
    return headers


def _callback_url(request: web.Request) -> CallbackURL | None:
    raw = request.headers.get("X-Callback-Url")
    if raw is None:
        return None
    try:
        parts = urlsplit(raw.strip())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises on a port that is not a number in 0-65535
    except ValueError:  # e.g. "http://[" (unclosed IPv6 literal): found by the property tests
        valid = False
    if not valid:
        raise ValidationFailed("X-Callback-Url must be an absolute http or https URL", field="X-Callback-Url")
    return CallbackURL.from_url(raw.strip())


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"request body of {request.content_length} bytes exceeds async_max_body_bytes={limit}",
            field="body",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds async_max_body_bytes={limit}", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


async def submit_call(request: web.Request) -> web.Response:
    settings = request.app[ASYNC_SETTINGS]
    queue = request.app[ASYNC_QUEUE]
    provider = request.app[PROVIDER]
    typed = request.match_info["name"]
    name, namespace = split_name(typed, provider.default_namespace)
    if not DNS1123_LABEL.match(name) or not DNS1123_LABEL.match(namespace):
        raise FunctionNotFound(f"function {typed!r} not found", field="name")
    function = await request.app[_FUNCTIONS].get(provider, name, namespace)
    callback = _callback_url(request)
    client_call_id = request.headers.get("X-Call-Id")
    call_id = client_call_id or str(uuid.uuid4())
    if not is_valid_call_id(call_id):
        raise ValidationFailed(
            "X-Call-Id may hold only letters, digits, '-' and '_' (1-128)", field="X-Call-Id"
        )
    body = await _read_body(request, settings.async_max_body_bytes)
    js, kv = queue.require()
    start_time = str(time.time_ns())
    headers = _headers_of(request)
    headers["X-Call-Id"] = [call_id]
    headers["X-Start-Time"] = [start_time]
    # the queued call carries the trace (this submission's span when exporting) to the worker and callback
    traceparent, _ = ensure(request.headers)
    tracing = request.app.get(TRACING)
    span = None
    if tracing is not None:
        span = tracing.start(
            "gateway",
            traceparent,
            request.headers.get(TRACESTATE),
            kind="server",
            attributes={"faas.function": typed, "faas.invocation": "async", "faas.call_id": call_id},
        )
        traceparent = span.traceparent
    for key in [key for key in headers if key.lower() == TRACEPARENT]:
        del headers[key]
    headers[TRACEPARENT] = [traceparent]
    # OpenFaaS's Path: what follows /async-function/<name> ("" when nothing does)
    path = request.path[len("/async-function/") + len(typed) :]
    queued = QueueRequest(
        Header=headers,
        Host=request.host,
        Body=body,
        Method=request.method,
        Path=path or None,
        QueryString=request.query_string or None,
        Function=typed,
        Annotations=function.annotations or None,
        CallbackUrl=callback,
    )
    layout = queue.layout
    payload = queued.wire_bytes()
    if len(payload) > queue.max_payload():
        raise PayloadTooLarge(
            f"request too large for the queue: {len(payload)} bytes encoded, NATS max_payload is "
            f"{queue.max_payload()} (raise max_payload in nats-server, or lower async_max_body_bytes)",
            field="body",
        )
    try:
        await js.publish(
            layout.call_subject(name, namespace),
            payload,
            timeout=settings.async_publish_timeout,
            stream=layout.calls_stream,
            headers={"Nats-Msg-Id": call_id},
        )
    except Exception as exc:
        queue.repair()
        if span is not None:
            span.end(status=503, error=str(exc))
        raise QueueUnavailable(
            f"the call was not queued: {type(exc).__name__}: {exc}", retry_after=2.0
        ) from exc
    if span is not None:
        span.end(status=202)
    record = AsyncCallRecord(
        callId=call_id,
        function=typed,
        state="queued",
        queuedAt=datetime.now(UTC),
        callbackUrl=callback.url() if callback else None,
        traceId=trace_id_of(traceparent),
    )
    try:
        # create, never overwrite: the worker may already have written "running"
        await kv.create(call_id, record.wire_bytes())
    except KeyWrongLastSequenceError:
        pass
    except Exception as exc:  # the call is stored; the worker writes the record when it runs
        log.warning("queued %s but could not write its record: %s", call_id, exc)
    if client_call_id is None and CALL_LEDGER in request.app:
        # Only ids issued here are eligible for replay: a client-chosen id could be someone else's.
        request.app[CALL_LEDGER].issue(call_id, typed)
    return web.Response(status=202, headers={"X-Call-Id": call_id, "X-Start-Time": start_time})


async def call_status(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    if not is_valid_call_id(call_id):
        raise ValidationFailed("invalid call id", field="call_id")
    _, kv = request.app[ASYNC_QUEUE].require()
    try:
        entry = await kv.get(call_id)
    except KeyNotFoundError as exc:
        raise NotFound(f"no async call {call_id!r} (unknown or expired)", field="call_id") from exc
    if not entry.value:
        raise NotFound(f"no async call {call_id!r}", field="call_id")
    with contextlib.suppress(ValueError):
        return web.json_response(AsyncCallRecord.model_validate_json(entry.value).wire())
    return web.Response(body=entry.value, content_type="application/json")
