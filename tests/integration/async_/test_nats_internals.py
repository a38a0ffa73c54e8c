"""The nats-py internal ``pyfaas.system.nats_internals`` relies on, against a real nats-server: what the
server delivered to a pull subscription that nobody fetches any more is handed out after the unsubscription,
in order, and nothing stays buffered."""

from __future__ import annotations

import asyncio
import contextlib

import nats
from nats.js.api import ConsumerConfig, StreamConfig

from pyfaas.system.nats_internals import buffered_deliveries
from tests.support.async_calls import eventually, until
from tests.support.nats import NatsServer


async def test_buffered_deliveries_after_unsubscribe(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        with contextlib.suppress(Exception):
            await js.delete_stream("INTERNALS")
        await js.add_stream(StreamConfig(name="INTERNALS", subjects=["internals.>"]))
        await js.add_consumer("INTERNALS", ConsumerConfig(durable_name="reader", ack_wait=30))
        sub = await js.pull_subscribe_bind(durable="reader", stream="INTERNALS")
        # A pull request for two that nobody waits on any more: what it brings stays buffered.
        fetch = asyncio.ensure_future(sub.fetch(2, timeout=30))

        async def request_waiting() -> bool:
            return (await js.consumer_info("INTERNALS", "reader")).num_waiting >= 1

        await eventually(request_waiting, limit=10, what="the pull request to reach the server")
        fetch.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await fetch
        for n in range(2):
            await js.publish("internals.a", f"m{n}".encode())
        await until(lambda: sub.pending_msgs >= 1, limit=10, what="a buffered delivery")
        await sub.unsubscribe()
        await nc.flush()  # every delivery sent before the unsubscription has now reached the client
        buffered = sub.pending_msgs
        taken = [msg async for msg in buffered_deliveries(sub)]
        assert len(taken) == buffered
        assert sub.pending_msgs == 0
        deliveries = [msg.data for msg in taken if msg.reply.startswith("$JS.ACK.")]  # not status messages
        assert deliveries[:1] == [b"m0"]
        assert deliveries == [b"m0", b"m1"][: len(deliveries)]
    finally:
        await nc.close()
