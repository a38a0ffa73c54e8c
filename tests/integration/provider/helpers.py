"""Small async helpers shared by the provider tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from pyfaas.provider.base import Provider, Replica

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], within: float = 30.0
) -> T:
    """Call ``probe`` until ``check`` accepts its value; fail the test after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if check(value):
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"condition not met within {within}s; last value: {value!r}")
        await asyncio.sleep(0.02)


async def ready(provider: Provider, name: str, namespace: str, count: int = 1) -> list[Replica]:
    """Wait until exactly ``count`` replicas are ready."""
    return await eventually(lambda: provider.ready_replicas(name, namespace), lambda r: len(r) == count)


async def invoke(replica: Replica, body: bytes = b"", path: str = "/") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(replica.url + path, content=body)
