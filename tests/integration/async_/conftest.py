"""Fixtures of the async-invocation tests: a real NATS server per module, a clean layout per test, the fake
gateway and callback receiver, and a factory that runs an in-process :class:`Worker`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from prometheus_client import CollectorRegistry

from pyfaas.core.queue_layout import QueueLayout
from pyfaas.worker.app import Worker
from pyfaas.worker.jetstream import ensure_layout
from pyfaas.worker.settings import WorkerSettings
from tests.support.async_calls import CallbackReceiver, FakeGateway, reset_layout
from tests.support.nats import NatsServer, nats_server

__all__ = ["nats_server"]


@dataclass
class Queue:
    nc: NATS
    js: JetStreamContext
    kv: KeyValue
    layout: QueueLayout


@pytest.fixture
async def queue(nats_server: NatsServer) -> AsyncIterator[Queue]:
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    layout = QueueLayout()
    await reset_layout(js, layout)
    kv = await ensure_layout(js, layout)
    yield Queue(nc, js, kv, layout)
    with contextlib.suppress(Exception):
        await nc.close()


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    fake = FakeGateway()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    recv = CallbackReceiver()
    await recv.start()
    yield recv
    await recv.close()


WorkerFactory = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def start_worker(nats_server: NatsServer, gateway: FakeGateway) -> AsyncIterator[WorkerFactory]:
    running: list[tuple[Worker, asyncio.Task[None]]] = []

    async def factory(**overrides: Any) -> Worker:
        env = {
            "nats_url": nats_server.url,
            "gateway_url": str(gateway.server.make_url("")).rstrip("/") if gateway.server else "",
            "max_inflight": "10",
            "ack_wait": "3s",
            "initial_retry_wait": "50ms",
            "max_retry_wait": "200ms",
            "max_retry_attempts": "4",
            "discovery_interval": "50ms",
            "idle_poll": "1s",
            "callback_initial_wait": "50ms",
            "callback_max_wait": "200ms",
            "metrics_port": "0",
            "metrics_host": "127.0.0.1",
            "shutdown_timeout": "5s",
        }
        env.update({k: str(v) for k, v in overrides.items() if v is not None})
        for unset in [k for k, v in overrides.items() if v is None]:  # None: the worker's default
            env.pop(unset, None)
        worker = Worker(WorkerSettings.from_env(env), registry=CollectorRegistry())
        task = asyncio.create_task(worker.run())
        running.append((worker, task))
        await asyncio.wait_for(worker.ready.wait(), 10)
        return worker

    yield factory
    for worker, _task in running:
        worker.stop.set()
    for _, task in running:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
