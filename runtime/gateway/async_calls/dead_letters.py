"""Dead-letter administration under ``/system/async/dead-letters`` (behind the gateway's auth).

* ``GET    /system/async/dead-letters[?function=name[.ns]&limit=N]`` list (oldest first)
* ``GET    /system/async/dead-letters/{call_id}``                  inspect (includes the queued request)
* ``POST   /system/async/dead-letters/{call_id}/redrive``          queue it again with fresh attempts (202)
* ``DELETE /system/async/dead-letters/{call_id}``                  purge one
* ``DELETE /system/async/dead-letters[?function=...]``              purge all (or one function's)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from pyfaas.core.errors import NotFound, ValidationFailed
from pyfaas.core.models import AsyncCallRecord, QueueRequest, format_rfc3339
from pyfaas.core.queue_layout import DeadLetterHeaders, QueueLayout, is_valid_call_id
from pyfaas.gateway.async_calls.queue import AsyncQueue

__all__ = ["add_dead_letter_routes"]

_PREFIX = "/system/async/dead-letters"


def add_dead_letter_routes(app: web.Application, key: web.AppKey[AsyncQueue]) -> None:
    """Register before ``/system/async/{call_id}`` so ``dead-letters`` is not taken for a call id."""

    def queue_of(request: web.Request) -> tuple[JetStreamContext, QueueLayout, AsyncQueue]:
        queue = request.app[key]
        js, _ = queue.require()
        return js, queue.layout, queue

    async def list_letters(request: web.Request) -> web.Response:
        js, layout, _ = queue_of(request)
        wanted = request.query.get("function")
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError as exc:
            raise ValidationFailed("limit must be an integer", field="limit") from exc
        items = [_summary(msg) async for msg in _iterate(js, layout) if _matches(msg, wanted)]
        return web.json_response({"items": items[: max(0, limit)], "count": len(items)})

    async def inspect(request: web.Request) -> web.Response:
        js, layout, _ = queue_of(request)
        msg = await _get(js, layout, _call_id(request))
        detail = _summary(msg)
        try:
            detail["request"] = QueueRequest.model_validate_json(msg.data or b"").wire()
        except ValidationError:
            detail["raw"] = (msg.data or b"").decode(errors="replace")
        return web.json_response(detail)

    async def redrive(request: web.Request) -> web.Response:
        js, layout, queue = queue_of(request)
        call_id = _call_id(request)
        msg = await _get(js, layout, call_id)
        headers = msg.headers or {}
        try:
            queued = QueueRequest.model_validate_json(msg.data or b"")
        except ValidationError as exc:
            raise ValidationFailed(f"dead letter {call_id} holds no valid request", field="call_id") from exc
        name = headers.get(DeadLetterHeaders.FUNCTION, "")
        namespace = headers.get(DeadLetterHeaders.NAMESPACE, "")
        record = AsyncCallRecord(
            callId=call_id,
            function=queued.Function,
            state="queued",
            queuedAt=datetime.now(UTC),
            callbackUrl=queued.CallbackUrl.url() if queued.CallbackUrl else None,
        )
        # record first: the worker may pick the message up the moment it is published
        _, kv = queue.require()
        await kv.put(call_id, record.wire_bytes())
        await js.publish(
            layout.call_subject(name, namespace),
            msg.data or b"",
            stream=layout.calls_stream,
            headers={"Nats-Msg-Id": f"{call_id}-redrive-{msg.seq}"},
        )
        await js.purge_stream(layout.dead_stream, subject=layout.dead_subject(call_id))
        return web.json_response(
            {"callId": call_id, "state": "queued"}, status=202, headers={"X-Call-Id": call_id}
        )

    async def purge_one(request: web.Request) -> web.Response:
        js, layout, _ = queue_of(request)
        call_id = _call_id(request)
        await _get(js, layout, call_id)
        await js.purge_stream(layout.dead_stream, subject=layout.dead_subject(call_id))
        return web.Response(status=204)

    async def purge_all(request: web.Request) -> web.Response:
        js, layout, _ = queue_of(request)
        wanted = request.query.get("function")
        if not wanted:
            info = await js.stream_info(layout.dead_stream)
            await js.purge_stream(layout.dead_stream)
            return web.json_response({"purged": info.state.messages})
        purged = 0
        async for msg in _iterate(js, layout):
            if _matches(msg, wanted) and msg.seq is not None:
                await js.delete_msg(layout.dead_stream, msg.seq)
                purged += 1
        return web.json_response({"purged": purged})

    app.router.add_get(_PREFIX, list_letters)
    app.router.add_delete(_PREFIX, purge_all)
    app.router.add_get(_PREFIX + "/{call_id}", inspect)
    app.router.add_delete(_PREFIX + "/{call_id}", purge_one)
    app.router.add_post(_PREFIX + "/{call_id}/redrive", redrive)


def _call_id(request: web.Request) -> str:
    call_id = request.match_info["call_id"]
    if not is_valid_call_id(call_id):
        raise ValidationFailed("invalid call id", field="call_id")
    return call_id


async def _get(js: JetStreamContext, layout: QueueLayout, call_id: str) -> RawStreamMsg:
    try:
        return await js.get_msg(layout.dead_stream, subject=layout.dead_subject(call_id))
    except NotFoundError as exc:
        raise NotFound(f"no dead letter for call {call_id!r}", field="call_id") from exc


async def _iterate(js: JetStreamContext, layout: QueueLayout) -> AsyncIterator[RawStreamMsg]:
    seq = 1
    while True:
        try:
            msg = await js.get_msg(layout.dead_stream, seq=seq, subject=layout.dead_wildcard, next=True)
        except NotFoundError:
            return
        yield msg
        seq = (msg.seq or seq) + 1


def _matches(msg: RawStreamMsg, wanted: str | None) -> bool:
    if not wanted:
        return True
    headers = msg.headers or {}
    name = headers.get(DeadLetterHeaders.FUNCTION, "")
    namespace = headers.get(DeadLetterHeaders.NAMESPACE, "")
    return wanted in (name, f"{name}.{namespace}")


def _summary(msg: RawStreamMsg) -> dict[str, Any]:
    headers = msg.headers or {}

    def number(key: str) -> int | None:
        try:
            return int(headers.get(key, ""))
        except ValueError:
            return None

    return {
        "callId": headers.get(DeadLetterHeaders.CALL_ID, ""),
        "function": headers.get(DeadLetterHeaders.FUNCTION, ""),
        "namespace": headers.get(DeadLetterHeaders.NAMESPACE, ""),
        "status": number(DeadLetterHeaders.STATUS),
        "error": headers.get(DeadLetterHeaders.ERROR, ""),
        "attempts": number(DeadLetterHeaders.ATTEMPTS),
        "deadLetteredAt": format_rfc3339(msg.time) if msg.time else None,
        "seq": msg.seq,
    }
