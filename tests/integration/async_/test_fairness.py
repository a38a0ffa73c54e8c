"""One function's backlog must not starve another: the second function's calls start while the first's
backlog is still deep (counted in calls, not seconds, so machine load cannot make it flaky)."""

from __future__ import annotations

import asyncio

from tests.integration.async_.conftest import Queue, WorkerFactory
from tests.support.async_calls import FakeGateway, submit, until

BACKLOG = 300


async def test_second_function_is_not_starved(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    await asyncio.gather(
        *(submit(queue.js, queue.kv, queue.layout, "slow-0_01", body=b"a") for _ in range(BACKLOG))
    )
    worker = await start_worker(max_inflight="4")
    await until(lambda: gateway.by_function["slow-0_01"] >= 20, limit=20, what="backlog draining")
    before = gateway.by_function["slow-0_01"]
    second = [await submit(queue.js, queue.kv, queue.layout, "echo-b", body=b"b") for _ in range(8)]
    await until(lambda: all(gateway.calls[c] == 1 for c in second), limit=20, what="second function's calls")
    during = gateway.by_function["slow-0_01"] - before
    # without fairness echo-b would wait for the remaining ~280 backlog calls
    print(f"backlog calls during the second function: {during}")
    assert during < 100, f"{during} backlog calls ran before the second function's 8 calls finished"
    assert gateway.by_function["slow-0_01"] < BACKLOG
    assert worker.consumer is not None and set(worker.consumer.functions) == {
        "slow-0_01.openfaas-fn",
        "echo-b.openfaas-fn",
    }
