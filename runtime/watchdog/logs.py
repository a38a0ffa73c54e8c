"""The watchdog's log output: one line per record, each prefixed with an RFC 3339 UTC timestamp.

Line format (``prefix_logs`` true)::

    2026-11-26T23:08:04.123456Z stdout: <a line the function printed>
    2026-11-26T23:08:04.123456Z stderr: <a line the function wrote to stderr>
    2026-11-26T23:08:04.123456Z POST /path?q=1 - 200 - ContentLength: 12B (0.0001s)
    2026-11-26T23:08:04.123456Z <other watchdog message>

With ``prefix_logs`` false the function's lines are written as they are; the watchdog's own lines keep their
timestamp. Lines written on the event loop are collected and flushed once per loop iteration, so a busy
replica makes one ``write`` per batch rather than one per request.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import threading
import time

__all__ = ["LineWriter", "LogSink", "SinkHandler", "rfc3339"]

_second_cache: tuple[int, str] = (-1, "")


def rfc3339(now: float | None = None) -> str:
    """``now`` (epoch seconds) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    global _second_cache
    if now is None:
        now = time.time()
    whole = int(now)
    cached_second, cached_text = _second_cache
    if whole != cached_second:
        cached_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second_cache = (whole, cached_text)
    return f"{cached_text}.{int((now - whole) * 1_000_000):06d}Z"


class LogSink:
    """Writes timestamped lines to a file descriptor (normally stdout), batching on the event loop."""

    def __init__(self, fd: int = 1, *, prefix_function_lines: bool = True) -> None:
        self._fd = fd
        self._prefix = prefix_function_lines
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._flush_scheduled = False

    def attach(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Batch writes on ``loop`` (``None`` = write through immediately)."""
        self.flush()
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def line(self, message: str) -> None:
        """A watchdog line (multi-line messages become one timestamped line each)."""
        stamp = rfc3339()
        self._emit("".join(f"{stamp} {part}\n" for part in message.rstrip("\n").split("\n")))

    def single_line(self, message: str) -> None:
        """A watchdog line known to contain no newline (the access log's fast path)."""
        self._emit(f"{rfc3339()} {message}\n")

    def function_line(self, stream: str, text: str) -> None:
        """One line the function wrote on ``stream`` (``stdout`` or ``stderr``)."""
        text = text.rstrip("\r\n")
        if self._prefix:
            self._emit(f"{rfc3339()} {stream}: {text}\n")
        else:
            self._emit(text + "\n")

    def _emit(self, text: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self._write(text)
            return
        with self._lock:
            self._pending.append(text)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        if threading.get_ident() == self._loop_thread:
            loop.call_soon(self.flush)
        else:
            try:
                loop.call_soon_threadsafe(self.flush)
            except RuntimeError:  # loop closed meanwhile
                self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            self._flush_scheduled = False
        if pending:
            self._write("".join(pending))

    def _write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        while data:
            try:
                written = os.write(self._fd, data)
            except InterruptedError:
                continue
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except OSError:
                return  # nowhere to log to; never crash a request over it
            data = data[written:]


class SinkHandler(logging.Handler):
    """Routes the watchdog's ``logging`` records into the sink."""

    def __init__(self, sink: LogSink) -> None:
        super().__init__()
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sink.line(self.format(record))
        except Exception:
            self.handleError(record)


class LineWriter(io.TextIOBase):
    """A text stream that turns what a python-mode handler prints into function lines of the sink."""

    def __init__(self, sink: LogSink, stream: str) -> None:
        super().__init__()
        self._sink = sink
        self._stream = stream
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            data = self._partial + text
            *lines, self._partial = data.split("\n")
        for line in lines:
            self._sink.function_line(self._stream, line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            partial, self._partial = self._partial, ""
        if partial:
            self._sink.function_line(self._stream, partial)
