"""Helpers for async-invocation tests: a fake ``/function/`` gateway, a callback receiver, a submitter.

The fake gateway and the receiver are real aiohttp servers on loopback (legitimate HTTP peers of the worker);
behaviour is chosen by function name:

* ``echo*``: 200 with the request body, ``X-Echo-Method``/``X-Echo-Path``/``X-Echo-Query`` headers;
* ``flaky429-N`` / ``flaky503-N``: answer 429 / 503 to the first N attempts of each call id, then 200;
* ``down``: always 503 (dead letter after the last attempt);
* ``bad``: 400 (a final, non-retryable failure);
* ``slow-S``: sleep S seconds (float) then 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.test_utils import TestServer
from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from pyfaas.core.models import AsyncCallRecord, CallbackURL, QueueRequest
from pyfaas.core.queue_layout import QueueLayout
from tests.support import polling

__all__ = ["CallbackReceiver", "FakeGateway", "eventually", "reset_layout", "submit", "until"]


@dataclass
class FakeGateway:
    calls: Counter[str] = field(default_factory=Counter)
    """Attempts per call id."""
    by_function: Counter[str] = field(default_factory=Counter)
    log: list[tuple[str, str, float]] = field(default_factory=list)
    """(function, call id, loop time at start)."""
    first_start: dict[str, float] = field(default_factory=dict)
    first_end: dict[str, float] = field(default_factory=dict)
    """Loop time at which the first execution of each call id started / answered."""
    last_request: dict[str, dict[str, str]] = field(default_factory=dict)
    concurrent: int = 0
    peak_concurrent: int = 0
    server: TestServer | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/function/{name}", self._handle)
        app.router.add_route("*", "/function/{name}/{path:.*}", self._handle)
        return app

    async def start(self) -> str:
        self.server = TestServer(self.app(), host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("")).rstrip("/")

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"].split(".")[0]
        call_id = request.headers.get("X-Call-Id", "")
        self.calls[call_id] += 1
        self.by_function[name] += 1
        attempt = self.calls[call_id]
        self.log.append((name, call_id, asyncio.get_running_loop().time()))
        self.first_start.setdefault(call_id, asyncio.get_running_loop().time())
        body = await request.read()
        self.last_request[call_id] = {
            "method": request.method,
            "path": request.match_info.get("path", ""),
            "query": request.query_string,
            "body": body.decode(errors="replace"),
            "size": str(len(body)),
            "user_agent": request.headers.get("User-Agent", ""),
            "x_custom": request.headers.get("X-Custom", ""),
            "x_call_id": call_id,
            "x_attempt": request.headers.get("X-Pyfaas-Attempt", ""),
        }
        self.concurrent += 1
        self.peak_concurrent = max(self.peak_concurrent, self.concurrent)
        try:
            if name.startswith(("flaky429-", "flaky503-")):
                failures = int(name.split("-")[1])
                if attempt <= failures:
                    status = 429 if name.startswith("flaky429") else 503
                    return web.Response(status=status, text=f"attempt {attempt} fails")
            elif name == "down":
                return web.Response(status=503, text="function is down")
            elif name == "bad":
                return web.Response(status=400, text="bad input")
            elif name.startswith("slow-"):
                await asyncio.sleep(float(name.split("-", 1)[1].replace("_", ".")))  # the slow function
            return web.Response(
                body=body,
                headers={
                    "X-Echo-Method": request.method,
                    "X-Echo-Path": request.match_info.get("path", ""),
                    "X-Echo-Query": request.query_string,
                    "Content-Type": "text/plain",
                },
            )
        finally:
            self.concurrent -= 1
            if attempt == 1:
                self.first_end[call_id] = asyncio.get_running_loop().time()


@dataclass
class CallbackReceiver:
    received: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=lambda: defaultdict(list))
    fail_first: int = 0
    """Answer 500 to the first N callbacks of each call id."""
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """Loop time of each callback received, per call id."""
    server: TestServer | None = None
    url: str = ""
    host: str = "127.0.0.1"
    """Where it listens (the cluster tests: the pod bridge's gateway, which pods reach)."""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/cb", self._handle)
        self.server = TestServer(app, host=self.host)
        await self.server.start_server()
        self.url = str(self.server.make_url("/cb"))
        return self.url

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _handle(self, request: web.Request) -> web.Response:
        call_id = request.headers.get("X-Call-Id", "")
        body = await request.read()
        self.received[call_id].append((dict(request.headers), body))
        self.times[call_id].append(asyncio.get_running_loop().time())
        if len(self.received[call_id]) <= self.fail_first:
            return web.Response(status=500)
        return web.Response(status=204)

    def delivered(self, call_id: str) -> int:
        """Callbacks that the receiver accepted for ``call_id``."""
        return max(0, len(self.received.get(call_id, [])) - self.fail_first)


async def reset_layout(js: JetStreamContext, layout: QueueLayout) -> None:
    """Delete the streams, consumers and record bucket so a test starts empty."""
    for name in (
        layout.calls_stream,
        layout.dead_stream,
        layout.callbacks_stream,
        f"KV_{layout.records_bucket}",
    ):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(name)


async def submit(
    js: JetStreamContext,
    kv: KeyValue,
    layout: QueueLayout,
    function: str,
    *,
    body: bytes = b"hello",
    namespace: str = "openfaas-fn",
    call_id: str | None = None,
    callback_url: str | None = None,
    annotations: dict[str, str] | None = None,
    path: str = "",
    query: str = "",
    headers: dict[str, list[str]] | None = None,
    sequences: dict[int, str] | None = None,
) -> str:
    """Queue a call the way the gateway does (publish with ack, then the ``queued`` record).

    ``sequences`` collects the stored message's stream sequence -> call id."""
    call_id = call_id or uuid.uuid4().hex
    request = QueueRequest(
        Header={"X-Call-Id": [call_id], **(headers or {})},
        Body=body,
        Method="POST",
        Path=path or None,
        QueryString=query or None,
        Function=function,
        Annotations=annotations,
        CallbackUrl=CallbackURL.from_url(callback_url) if callback_url else None,
    )
    payload = json.dumps(request.wire()).encode()
    ack = await js.publish(
        layout.call_subject(function.split(".")[0], namespace), payload, headers={"Nats-Msg-Id": call_id}
    )
    if sequences is not None:
        sequences[ack.seq] = call_id
    record = AsyncCallRecord(
        callId=call_id,
        function=function,
        state="queued",
        queuedAt=datetime.now(UTC),
        callbackUrl=callback_url,
    )
    with contextlib.suppress(KeyWrongLastSequenceError):
        await kv.create(call_id, json.dumps(record.wire()).encode())
    return call_id


async def until(predicate: Callable[[], object], limit: float = 30.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 20 ms; fail the test after ``limit`` seconds (:func:`polling.until`)."""
    await polling.until(predicate, limit, what, interval=0.02)


async def eventually(
    check: Callable[[], Awaitable[object]], limit: float = 30.0, what: str = "condition"
) -> None:
    """Await ``check()`` every 30 ms until it is true; fail the test after ``limit`` seconds."""
    await polling.eventually(check, bool, limit, interval=0.03, what=what)
