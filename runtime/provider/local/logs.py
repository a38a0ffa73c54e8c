"""Function logs: raw replica output collected into a bounded on-disk ring per function.

Each replica appends its stdout and stderr to a raw file of its own (``run/<ns>/<fn>/<replica>.log``,
``O_APPEND``), because a forked or spawned process writes there directly. Every ``poll_interval`` the
collector moves the new complete lines of each raw file into the function's ring (``logs/<ns>/<fn>.log``) as
one record: a JSON header line ``{"i": instance, "t": read time, "n": payload bytes}`` followed by the lines
as they were written. Lines are parsed into ``LogMessage`` only when they are read (logs API) or followed:
a busy replica writes one access-log line per request, and parsing each as it arrives cost the provider's
process (the gateway, in local mode) about 10 µs per request. When the ring's current half exceeds half
the cap it is renamed to ``.log.1`` (replacing the older half), so at most ``cap`` bytes are kept. A raw
file is truncated in place once it has been read past ``raw_truncate_bytes``: the writer's ``O_APPEND``
offset follows the truncation. Lines written in the instant between the last read and that truncation can
be lost; that is the price of not routing every replica's output through the provider process.

A line's time is the watchdog's RFC 3339 prefix when it has one, else the time the collector read it.
Followers (``follow=true``) get new lines pushed from the collector, in memory, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyfaas.core.models import LogMessage
from pyfaas.provider.base import LogRequest

__all__ = ["LogCollector", "last_lines"]

log = logging.getLogger("pyfaas.provider.local")

_FOLLOW_QUEUE_MAX = 10_000
_MAX_READ = 1 << 20
"""Bytes read from one raw file per poll; the rest waits for the next poll."""
_MAX_LINE = 64 << 10
_END = None


@dataclass(slots=True)
class _Source:
    namespace: str
    name: str
    instance: str
    path: Path
    offset: int = 0
    partial: bytes = b""


@dataclass(slots=True, frozen=True)
class _Record:
    """Lines of one replica as read in one poll: complete lines, each ending in a newline."""

    instance: str
    stamp: datetime
    payload: bytes

    def encode(self) -> bytes:
        header = {"i": self.instance, "t": self.stamp.isoformat(), "n": len(self.payload)}
        return json.dumps(header).encode() + b"\n" + self.payload

    def messages(self, namespace: str, name: str) -> Iterator[LogMessage]:
        for line in self.payload.split(b"\n")[:-1]:
            when, text = _split_timestamp(line.decode("utf-8", "replace").rstrip("\r"), self.stamp)
            yield LogMessage(
                name=name, namespace=namespace, instance=self.instance, timestamp=when, text=text
            )


def _decode_records(raw: bytes) -> Iterator[_Record]:
    """Records of one ring file, in order; stops at anything that is not a whole record (a torn write)."""
    position = 0
    while position < len(raw):
        end = raw.find(b"\n", position)
        if end < 0:
            return
        try:
            header = json.loads(raw[position:end])
            instance, stamp, size = str(header["i"]), datetime.fromisoformat(header["t"]), int(header["n"])
        except (ValueError, KeyError, TypeError):
            return
        payload = raw[end + 1 : end + 1 + size]
        if len(payload) < size:
            return
        yield _Record(instance, stamp, payload)
        position = end + 1 + size


@dataclass(slots=True)
class _Ring:
    path: Path
    half_cap: int
    size: int = -1

    @property
    def older(self) -> Path:
        return self.path.with_name(self.path.name + ".1")

    def append(self, data: bytes) -> None:
        if self.size < 0:
            self.size = self.path.stat().st_size if self.path.exists() else 0
        if self.size and self.size + len(data) > self.half_cap:
            os.replace(self.path, self.older)
            self.size = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as handle:
            handle.write(data)
        self.size += len(data)

    def records(self) -> Iterator[_Record]:
        for part in (self.older, self.path):
            try:
                raw = part.read_bytes()
            except FileNotFoundError:
                continue
            yield from _decode_records(raw)


@dataclass(slots=True)
class _Followers:
    queues: set[asyncio.Queue[LogMessage | None]] = field(default_factory=set)


class LogCollector:
    def __init__(
        self, logs_dir: Path, *, cap_bytes: int, poll_interval: float, raw_truncate_bytes: int = 256 << 10
    ) -> None:
        self._logs_dir = logs_dir
        self._half_cap = max(cap_bytes // 2, 4096)
        self._poll_interval = poll_interval
        self._raw_truncate = raw_truncate_bytes
        self._sources: dict[Path, _Source] = {}
        self._rings: dict[tuple[str, str], _Ring] = {}
        self._followers: dict[tuple[str, str], _Followers] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for path in list(self._sources):
            self.release(path)
        for key in list(self._followers):
            self.end_followers(*key)

    # sources ---------------------------------------------------------------------------------------
    def watch(self, *, namespace: str, name: str, instance: str, path: Path) -> None:
        self._sources[path] = _Source(namespace, name, instance, path)

    def release(self, path: Path) -> None:
        """Read what is left of a replica's raw file (its process has exited), then delete it."""
        source = self._sources.pop(path, None)
        if source is not None:
            self._drain(source, final=True)
        with contextlib.suppress(OSError):
            path.unlink()

    def ingest_leftover(self, *, namespace: str, name: str, instance: str, path: Path) -> None:
        """Keep the output of a replica from an earlier provider run, stamped with the file's mtime."""
        try:
            stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:
            return
        self._drain(_Source(namespace, name, instance, path), final=True, stamp=stamp)
        with contextlib.suppress(OSError):
            path.unlink()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            for source in list(self._sources.values()):
                self._drain(source, final=False)

    def flush(self) -> None:
        """Collect everything written so far (used before answering a non-follow request)."""
        for source in list(self._sources.values()):
            self._drain(source, final=False)

    def _drain(self, source: _Source, *, final: bool, stamp: datetime | None = None) -> None:
        try:
            with open(source.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < source.offset:  # truncated by someone else: start over
                    source.offset = 0
                handle.seek(source.offset)
                data = handle.read(_MAX_READ)  # a chatty replica cannot stall the event loop
                source.offset += len(data)
                if source.offset >= self._raw_truncate and os.fstat(handle.fileno()).st_size == source.offset:
                    os.truncate(source.path, 0)
                    source.offset = 0
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            log.warning("cannot read %s: %s", source.path, exc)
            return
        # Whole lines only; a line without end stays for the next poll unless it grew too long to hold.
        data = source.partial + data
        cut = data.rfind(b"\n") + 1
        payload, source.partial = data[:cut], data[cut:]
        if len(source.partial) > _MAX_LINE or (final and source.partial):
            payload += source.partial + b"\n"
            source.partial = b""
        if payload:
            self._publish(source, _Record(source.instance, stamp or datetime.now(UTC), payload))

    def _publish(self, source: _Source, record: _Record) -> None:
        key = (source.namespace, source.name)
        try:
            self._ring(*key).append(record.encode())
        except OSError as exc:
            log.warning("cannot write the log ring of %s.%s: %s", source.name, source.namespace, exc)
        followers = self._followers.get(key)
        if followers:
            messages = list(record.messages(source.namespace, source.name))
            for queue in list(followers.queues):
                for message in messages:
                    try:
                        queue.put_nowait(message)
                    except asyncio.QueueFull:
                        log.warning("a log follower of %s.%s is too slow; dropping lines", *key[::-1])
                        break

    def _ring(self, namespace: str, name: str) -> _Ring:
        key = (namespace, name)
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = _Ring(self._logs_dir / namespace / f"{name}.log", self._half_cap)
        return ring

    def forget(self, namespace: str, name: str) -> None:
        """Delete a function's ring (the function was deleted) and end its followers."""
        ring = self._rings.pop((namespace, name), None) or _Ring(
            self._logs_dir / namespace / f"{name}.log", self._half_cap
        )
        for part in (ring.path, ring.older):
            with contextlib.suppress(OSError):
                part.unlink()
        self.end_followers(namespace, name)

    def end_followers(self, namespace: str, name: str) -> None:
        followers = self._followers.pop((namespace, name), None)
        if followers:
            for queue in followers.queues:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(_END)

    # reading ---------------------------------------------------------------------------------------
    async def read(self, request: LogRequest) -> AsyncIterator[LogMessage]:
        key = (request.namespace, request.name)
        self.flush()
        queue: asyncio.Queue[LogMessage | None] | None = None
        if request.follow:
            # Register before reading the ring, with no await in between: no line is missed or repeated.
            queue = asyncio.Queue(_FOLLOW_QUEUE_MAX)
            self._followers.setdefault(key, _Followers()).queues.add(queue)
        try:
            kept = [
                message
                for record in self._ring(*key).records()
                if not request.instance or record.instance == request.instance
                for message in record.messages(*key)
                if _matches(message, request)
            ]
            if request.tail > 0:
                kept = kept[-request.tail :]
            for message in kept:
                yield message
            if queue is None:
                return
            while (followed := await queue.get()) is not None:
                if _matches(followed, request):
                    yield followed
        finally:
            if queue is not None:
                followers = self._followers.get(key)
                if followers:
                    followers.queues.discard(queue)


def last_lines(path: Path, count: int, *, max_bytes: int = 16 << 10) -> str:
    """The last ``count`` non-empty lines of a replica's raw output file, without the watchdog's time prefix
    and without the import machinery's frames of a traceback (what a replica said before it ended); empty
    when the file is gone."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - max_bytes))
            data = handle.read(max_bytes)
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line was cut
    epoch = datetime.fromtimestamp(0, UTC)
    texts = [_split_timestamp(line.rstrip(), epoch)[1] for line in lines]
    kept = [text for text in texts if text.strip() and not text.lstrip().startswith('File "<frozen ')]
    return "\n".join(kept[-count:])


def _split_timestamp(text: str, default: datetime) -> tuple[datetime, str]:
    """The watchdog prefixes its lines with an RFC 3339 UTC time; use it (it is exact) and drop it."""
    head, sep, rest = text.partition(" ")
    if sep and len(head) >= 20 and head.endswith("Z") and head[4] == "-" and head[10] == "T":
        try:
            return datetime.fromisoformat(head), rest
        except ValueError:
            pass
    return default, text


def _matches(message: LogMessage, request: LogRequest) -> bool:
    if request.instance and message.instance != request.instance:
        return False
    if request.since is not None:
        since = request.since if request.since.tzinfo else request.since.replace(tzinfo=UTC)
        if message.timestamp < since:
            return False
    return True
