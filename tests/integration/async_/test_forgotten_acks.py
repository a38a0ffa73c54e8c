"""A NATS server that lost its state after the worker acknowledged calls delivers them afresh (first
deliveries, so the call records are not consulted): the worker's memory of settled messages acknowledges them
without running them again.

The lost state is real: the server's store is copied while the calls are queued and put back, with the server
stopped, after the worker ran and acknowledged them."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

import nats
from prometheus_client import CollectorRegistry

from pyfaas.core.queue_layout import QueueLayout
from pyfaas.worker.app import Worker
from pyfaas.worker.jetstream import ensure_layout
from pyfaas.worker.settings import WorkerSettings
from tests.support.async_calls import FakeGateway, eventually, submit, until
from tests.support.nats import NatsServer

CALLS = 20


async def test_calls_delivered_again_after_the_server_forgot_their_acks_do_not_run(
    tmp_path: Path, gateway: FakeGateway
) -> None:
    store = tmp_path / "nats"
    store.mkdir()
    server = NatsServer(store)
    server.start()
    layout = QueueLayout()
    worker: Worker | None = None
    task: asyncio.Task[None] | None = None
    try:
        nc = await nats.connect(server.url)
        kv = await ensure_layout(nc.jetstream(), layout)
        ids = [await submit(nc.jetstream(), kv, layout, "echo", body=str(i).encode()) for i in range(CALLS)]
        await nc.close()
        await asyncio.to_thread(server.stop)
        shutil.copytree(store / "js", tmp_path / "queued")  # the calls stored, none delivered yet
        await asyncio.to_thread(server.start)

        env = {
            "nats_url": server.url,
            "gateway_url": str(gateway.server.make_url("")).rstrip("/") if gateway.server else "",
            "ack_wait": "3s",
            "discovery_interval": "50ms",
            "idle_poll": "1s",
            "metrics_port": "-1",
        }
        worker = Worker(WorkerSettings.from_env(env), registry=CollectorRegistry())
        task = asyncio.create_task(worker.run())
        await until(lambda: all(gateway.calls[i] == 1 for i in ids), limit=20, what="every call run")
        nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        js = nc.jetstream()

        async def stream_empty() -> bool:
            return (await js.stream_info(layout.calls_stream)).state.messages == 0

        await eventually(stream_empty, limit=20, what="every call acknowledged")
        await nc.close()
        assert worker.processor is not None
        assert worker.processor.counters.duplicates_skipped == 0

        await asyncio.to_thread(server.stop)
        shutil.rmtree(store / "js")
        shutil.copytree(tmp_path / "queued", store / "js")  # the acks (and deliveries) are forgotten
        await asyncio.to_thread(server.start)

        processor = worker.processor
        await until(
            lambda: processor.counters.duplicates_skipped == CALLS, limit=30, what="the redeliveries settled"
        )
        nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        js = nc.jetstream()
        await eventually(stream_empty, limit=20, what="the redeliveries acknowledged")
        await nc.close()
        assert all(gateway.calls[i] == 1 for i in ids), [gateway.calls[i] for i in ids]
        assert processor.counters.possible_reruns == 0
    finally:
        if worker is not None and task is not None:
            worker.stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 15)
        server.kill()
