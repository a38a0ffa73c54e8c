"""Call records in the JetStream key-value bucket, as the worker writes them.

Records are whole :class:`AsyncCallRecord` documents written with ``put`` (the worker owns a call while it
holds its message). The callback consumer only adds ``callbackStatus`` with a revision-checked update, after
the worker's final write, or writes the final record its job carries if that write never comes (the worker
died between storing the callback job and the record).
"""

from __future__ import annotations

import asyncio

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from pyfaas.core.models import AsyncCallRecord

__all__ = ["TERMINAL_STATES", "RecordStore"]

TERMINAL_STATES = frozenset({"succeeded", "failed", "dead-lettered"})


def _decode(value: bytes) -> AsyncCallRecord:
    return AsyncCallRecord.model_validate_json(value)


class RecordStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def put(self, record: AsyncCallRecord) -> int:
        return await self._kv.put(record.callId, record.wire_bytes())

    async def get(self, call_id: str) -> AsyncCallRecord | None:
        try:
            entry = await self._kv.get(call_id)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return AsyncCallRecord.model_validate_json(entry.value)

    async def restore_final(self, record: AsyncCallRecord) -> None:
        """Write a final record an earlier worker stored elsewhere (its callback job), unless one is there."""
        for _ in range(20):  # a conflict means another writer just wrote; look again
            try:
                entry = await self._kv.get(record.callId)
            except KeyNotFoundError:
                entry = None
            if entry is not None and entry.value and _decode(entry.value).state in TERMINAL_STATES:
                return
            try:
                if entry is None:
                    await self._kv.create(record.callId, record.wire_bytes())
                else:
                    await self._kv.update(record.callId, record.wire_bytes(), last=entry.revision)
                return
            except KeyWrongLastSequenceError:
                continue

    async def callback_status(self, call_id: str) -> int | None:
        record = await self.get(call_id)
        return record.callbackStatus if record is not None else None

    async def set_callback_status(
        self, call_id: str, status: int, *, final: AsyncCallRecord | None = None, settle_tries: int = 40
    ) -> None:
        """Record the callback's HTTP status once the call's final state is written; if it is still not
        written after ``settle_tries`` * 50 ms, write ``final`` (the outcome the callback job carries)."""
        for attempt in range(settle_tries + 1):
            try:
                entry = await self._kv.get(call_id)
            except KeyNotFoundError:
                entry = None
            current = (
                AsyncCallRecord.model_validate_json(entry.value)
                if entry is not None and entry.value
                else None
            )
            if current is None or current.state not in TERMINAL_STATES:
                if attempt < settle_tries:
                    # the worker stores the callback job just before its final write
                    await asyncio.sleep(0.05)
                    continue
                if final is None:
                    return
                current = final
            value = current.model_copy(update={"callbackStatus": status}).wire_bytes()
            try:
                if entry is None:
                    await self._kv.create(call_id, value)
                else:
                    await self._kv.update(call_id, value, last=entry.revision)
                return
            except KeyWrongLastSequenceError:
                continue
