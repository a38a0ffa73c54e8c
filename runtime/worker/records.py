"""Call records in the JetStream key-value bucket, as the worker writes them.

Records are whole :class:`AsyncCallRecord` documents written with ``put`` (the worker owns a call while it
holds its message). The callback consumer only adds ``callbackStatus`` with a revision-checked update, after
the worker's final write.
"""

from __future__ import annotations

import asyncio
import json

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from runtime.core.models import AsyncCallRecord

__all__ = ["TERMINAL_STATES", "RecordStore"]

TERMINAL_STATES = frozenset({"succeeded", "failed", "dead-lettered"})


def _encode(record: AsyncCallRecord) -> bytes:
    return json.dumps(record.wire(), separators=(",", ":")).encode()


class RecordStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def put(self, record: AsyncCallRecord) -> int:
        return await self._kv.put(record.callId, _encode(record))

    async def get(self, call_id: str) -> AsyncCallRecord | None:
        try:
            entry = await self._kv.get(call_id)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return AsyncCallRecord.model_validate_json(entry.value)

    async def set_callback_status(self, call_id: str, status: int, *, settle_tries: int = 40) -> None:
        """Record the callback's HTTP status once the call's final state is written."""
        for _ in range(settle_tries):
            try:
                entry = await self._kv.get(call_id)
            except KeyNotFoundError:
                return
            if not entry.value:
                return
            record = AsyncCallRecord.model_validate_json(entry.value)
            if record.state not in TERMINAL_STATES:
                # the worker publishes the callback job just before its final write
                await asyncio.sleep(0.05)
                continue
            try:
                await self._kv.update(
                    call_id,
                    _encode(record.model_copy(update={"callbackStatus": status})),
                    last=entry.revision,
                )
                return
            except KeyWrongLastSequenceError:
                continue
