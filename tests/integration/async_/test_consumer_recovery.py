"""A function's consumer deleted under a running worker (an operator, a stream re-creation) is recreated."""

from __future__ import annotations

from tests.integration.async_.conftest import Queue, WorkerFactory
from tests.support.async_calls import FakeGateway, eventually, submit, until


async def test_deleted_consumer_is_recreated(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    first = await submit(queue.js, queue.kv, queue.layout, "echo")
    await start_worker()
    await until(lambda: gateway.calls[first] == 1, what="first call")
    await queue.js.delete_consumer(
        queue.layout.calls_stream, queue.layout.consumer_name("echo", "openfaas-fn")
    )
    second = await submit(queue.js, queue.kv, queue.layout, "echo")
    await until(lambda: gateway.calls[second] == 1, limit=20, what="a call after the consumer was deleted")


async def test_deleted_work_stream_is_recreated(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    first = await submit(queue.js, queue.kv, queue.layout, "echo")
    await start_worker()
    await until(lambda: gateway.calls[first] == 1, what="first call")
    await queue.js.delete_stream(queue.layout.calls_stream)

    async def stream_back() -> bool:
        try:
            await queue.js.stream_info(queue.layout.calls_stream)
        except Exception:
            return False
        return True

    await eventually(stream_back, what="the worker to re-create the stream")
    second = await submit(queue.js, queue.kv, queue.layout, "echo")
    await until(lambda: gateway.calls[second] == 1, what="a call on the re-created stream")
