"""Small async helpers shared by the provider tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from pyfaas.core.errors import NotFound
from pyfaas.core.models import LogMessage
from pyfaas.provider.base import LogRequest, Provider, Replica
from tests.support import polling
from tests.support.providers import replica_headers

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], within: float = 30.0
) -> T:
    """:func:`tests.support.polling.eventually` with the provider tests' bound (30 s) and poll (20 ms)."""
    return await polling.eventually(probe, check, within, interval=0.02)


async def ready(provider: Provider, name: str, namespace: str, count: int = 1) -> list[Replica]:
    """Wait until exactly ``count`` replicas are ready."""
    return await eventually(lambda: provider.ready_replicas(name, namespace), lambda r: len(r) == count)


async def invoke(replica: Replica, body: bytes = b"", path: str = "/") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(replica.url + path, content=body, headers=replica_headers(replica))


async def check_logs(
    provider: Provider,
    name: str,
    namespace: str,
    *,
    line: str,
    say: Callable[[str], Awaitable[object]],
    within: float,
) -> None:
    """The log contract over function ``name``, already called with "a", "b" and "c", which logs ``line`` and
    the word it was called with: the kept lines in order, ``tail``, ``since``, ``follow`` (a line from
    ``say("live")`` arrives) and NotFound for an absent function; each wait is bounded by ``within``."""

    async def texts(**options: Any) -> list[LogMessage]:
        return [m async for m in provider.logs(LogRequest(name=name, namespace=namespace, **options))]

    kept = await eventually(lambda: texts(), lambda ms: any(m.text.endswith(f"{line}c") for m in ms), within)
    mine = [m for m in kept if line in m.text]
    assert [m.text.rsplit(" ", 1)[1] for m in mine] == ["a", "b", "c"]
    assert all(m.name == name and m.namespace == namespace and m.instance for m in mine)

    tail = await texts(tail=1)
    assert len(tail) == 1 and tail[0].text == kept[-1].text
    assert await texts(since=datetime.now(UTC) + timedelta(hours=1)) == []
    assert len(await texts(since=mine[1].timestamp)) >= 2

    followed: asyncio.Queue[LogMessage] = asyncio.Queue()

    async def follow() -> None:
        async for message in provider.logs(LogRequest(name=name, namespace=namespace, tail=1, follow=True)):
            await followed.put(message)

    follower = asyncio.create_task(follow())
    try:
        await asyncio.wait_for(followed.get(), within)  # the kept tail line arrives first
        await say("live")
        while f"{line}live" not in (await asyncio.wait_for(followed.get(), within)).text:
            pass
    finally:
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower
    with pytest.raises(NotFound):
        [m async for m in provider.logs(LogRequest(name="absent", namespace=namespace))]
