"""Small HTTP helpers shared by the modes: plain responses, the duration header, bounded body reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.web_request import BaseRequest

__all__ = [
    "DURATION_HEADER",
    "INTERNAL_HEADER",
    "BodyTooLarge",
    "check_length",
    "duration_value",
    "iter_body",
    "plain",
    "read_body",
]

DURATION_HEADER = "X-Duration-Seconds"
INTERNAL_HEADER = "X-OpenFaaS-Internal"


class BodyTooLarge(Exception):
    """The request body exceeds ``max_body_bytes`` (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body larger than {limit} bytes")
        self.limit = limit


def duration_value(started: float) -> str:
    """``X-Duration-Seconds`` as Go's ``%f`` prints it."""
    return f"{time.perf_counter() - started:f}"


def plain(status: int, text: str = "", headers: dict[str, str] | None = None) -> web.Response:
    """A ``text/plain`` response like Go's ``http.Error`` (the caller adds the trailing newline)."""
    response = web.Response(status=status, text=text, content_type="text/plain", charset="utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"
    if headers:
        response.headers.update(headers)
    return response


def check_length(request: BaseRequest, limit: int) -> None:
    length = request.content_length
    if limit and length is not None and length > limit:
        raise BodyTooLarge(limit)


async def read_body(request: BaseRequest, limit: int, read_timeout: float = 0) -> bytes:
    """The whole request body; ``BodyTooLarge`` past ``limit`` (0 = unlimited), ``TimeoutError`` after
    ``read_timeout`` seconds (0 = none)."""
    if not request.body_exists:
        return b""
    check_length(request, limit)
    async with asyncio.timeout(read_timeout or None):
        if request.content_length is not None:
            return await request.content.readexactly(request.content_length)
        parts: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if limit and size > limit:
                raise BodyTooLarge(limit)
            parts.append(chunk)
        return b"".join(parts)


async def iter_body(request: BaseRequest, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, raising ``BodyTooLarge`` once past ``limit``."""
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if limit and size > limit:
            raise BodyTooLarge(limit)
        yield chunk
