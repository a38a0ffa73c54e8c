"""Worker against a real NATS server, a real HTTP "gateway" and a real callback receiver."""

from __future__ import annotations

import json

import aiohttp

from pyfaas.core.models import AsyncCallRecord
from tests.integration.async_.conftest import Queue, WorkerFactory
from tests.support import polling
from tests.support.async_calls import CallbackReceiver, FakeGateway, eventually, submit, until


async def record(queue: Queue, call_id: str) -> AsyncCallRecord:
    entry = await queue.kv.get(call_id)
    assert entry.value is not None
    return AsyncCallRecord.model_validate_json(entry.value)


async def wait_state(queue: Queue, call_id: str, state: str, limit: float = 30.0) -> AsyncCallRecord:
    return await polling.eventually(lambda: record(queue, call_id), lambda r: r.state == state, limit)


async def test_call_replays_request_and_posts_callback(
    queue: Queue, gateway: FakeGateway, receiver: CallbackReceiver, start_worker: WorkerFactory
) -> None:
    await start_worker()
    call_id = await submit(
        queue.js,
        queue.kv,
        queue.layout,
        "echo",
        body=b"payload-1",
        callback_url=receiver.url,
        path="/sub/path",
        query="a=1&b=2",
        headers={"X-Custom": ["kept"]},
    )
    final = await wait_state(queue, call_id, "succeeded")
    seen = gateway.last_request[call_id]
    assert seen["path"] == "sub/path"
    assert seen["query"] == "a=1&b=2"
    assert seen["body"] == "payload-1"
    assert seen["x_custom"] == "kept"
    assert final.attempts == 1 and final.lastStatus == 200
    assert final.startedAt is not None and final.finishedAt is not None
    await until(lambda: receiver.delivered(call_id) == 1, what="callback")
    headers, body = receiver.received[call_id][0]
    assert body == b"payload-1"
    assert headers["X-Call-Id"] == call_id
    assert headers["X-Function-Status"] == "200"
    assert headers["X-Function-Name"] == "echo"
    assert headers["X-Function-Attempts"] == "1"
    assert float(headers["X-Duration-Seconds"]) >= 0
    assert headers["X-Echo-Path"] == "sub/path"
    rec = await until_callback_status(queue, call_id)
    assert rec.callbackStatus == 204


async def until_callback_status(queue: Queue, call_id: str) -> AsyncCallRecord:
    async def recorded() -> bool:
        return (await record(queue, call_id)).callbackStatus is not None

    await eventually(recorded, what="callbackStatus")
    return await record(queue, call_id)


async def test_retries_429_and_503_with_attempts_observed(
    queue: Queue, gateway: FakeGateway, receiver: CallbackReceiver, start_worker: WorkerFactory
) -> None:
    worker = await start_worker()
    id429 = await submit(queue.js, queue.kv, queue.layout, "flaky429-2", callback_url=receiver.url)
    id503 = await submit(queue.js, queue.kv, queue.layout, "flaky503-3", callback_url=receiver.url)
    r429 = await wait_state(queue, id429, "succeeded")
    r503 = await wait_state(queue, id503, "succeeded")
    assert gateway.calls[id429] == 3 and r429.attempts == 3
    assert gateway.calls[id503] == 4 and r503.attempts == 4
    await until(lambda: receiver.delivered(id503) == 1, what="callback")
    assert receiver.received[id503][0][0]["X-Function-Attempts"] == "4"
    assert worker.processor is not None and worker.processor.counters.retried == 5


async def test_status_transitions(queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory) -> None:
    await start_worker(initial_retry_wait="700ms", max_retry_wait="700ms")
    flaky = await submit(queue.js, queue.kv, queue.layout, "flaky503-1")
    slow = await submit(queue.js, queue.kv, queue.layout, "slow-0_6")

    async def retry_pending() -> bool:
        current = await record(queue, flaky)
        return current.state == "queued" and current.lastStatus == 503

    async def running() -> bool:
        return (await record(queue, slow)).state == "running"

    await eventually(retry_pending, what="queued again after a 503")
    waiting = await record(queue, flaky)
    assert waiting.attempts == 1 and waiting.error and "attempt 1 fails" in waiting.error
    await eventually(running, what="running")
    assert (await record(queue, slow)).startedAt is not None
    final = await wait_state(queue, flaky, "succeeded")
    assert final.attempts == 2 and final.lastStatus == 200 and final.error is None
    assert (await wait_state(queue, slow, "succeeded")).finishedAt is not None


async def test_dead_letter_after_last_attempt_with_annotation_override(
    queue: Queue, gateway: FakeGateway, receiver: CallbackReceiver, start_worker: WorkerFactory
) -> None:
    worker = await start_worker()
    call_id = await submit(
        queue.js,
        queue.kv,
        queue.layout,
        "down",
        callback_url=receiver.url,
        annotations={"com.openfaas.retry.attempts": "2", "com.openfaas.retry.min_wait": "10ms"},
    )
    final = await wait_state(queue, call_id, "dead-lettered")
    assert final.attempts == 2 and final.lastStatus == 503
    assert gateway.calls[call_id] == 2
    dead = await queue.js.get_msg(queue.layout.dead_stream, subject=queue.layout.dead_subject(call_id))
    assert dead.headers is not None
    assert dead.headers["Pyfaas-Status"] == "503"
    assert dead.headers["Pyfaas-Attempts"] == "2"
    assert "down" in dead.headers["Pyfaas-Error"]
    assert json.loads(dead.data or b"{}")["Function"] == "down"
    await until(lambda: receiver.delivered(call_id) == 1, what="callback of dead letter")
    assert receiver.received[call_id][0][0]["X-Function-Status"] == "503"
    assert worker.processor is not None and worker.processor.counters.dead_lettered == 1


async def test_non_retryable_status_fails_once(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    await start_worker()
    call_id = await submit(queue.js, queue.kv, queue.layout, "bad")
    final = await wait_state(queue, call_id, "failed")
    assert final.lastStatus == 400 and gateway.calls[call_id] == 1


async def test_callback_is_retried(
    queue: Queue, gateway: FakeGateway, receiver: CallbackReceiver, start_worker: WorkerFactory
) -> None:
    receiver.fail_first = 2
    worker = await start_worker()
    call_id = await submit(queue.js, queue.kv, queue.layout, "echo", callback_url=receiver.url)
    await until(lambda: receiver.delivered(call_id) == 1, what="third callback attempt")
    assert len(receiver.received[call_id]) == 3
    assert worker.callbacks is not None and worker.callbacks.retried == 2
    assert gateway.calls[call_id] == 1


async def test_max_inflight_bounds_concurrency(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    await start_worker(max_inflight="4")
    ids = [await submit(queue.js, queue.kv, queue.layout, "slow-0_3") for _ in range(12)]
    await until(lambda: sum(gateway.calls[i] for i in ids) == 12, limit=30, what="all calls")
    assert gateway.peak_concurrent == 4


async def test_long_call_keeps_its_message(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    # ack_wait 1s, call 2.5s: in-progress acks must prevent a redelivery (a duplicate run)
    await start_worker(ack_wait="1s")
    call_id = await submit(queue.js, queue.kv, queue.layout, "slow-2_5")
    final = await wait_state(queue, call_id, "succeeded", limit=15)
    assert gateway.calls[call_id] == 1
    assert final.startedAt is not None and final.finishedAt is not None
    assert (final.finishedAt - final.startedAt).total_seconds() >= 2.4  # startedAt is the start, not the end


async def test_metrics_endpoint(queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory) -> None:
    worker = await start_worker()
    call_id = await submit(queue.js, queue.kv, queue.layout, "echo")
    await wait_state(queue, call_id, "succeeded")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{worker.metrics_port}/metrics") as response,
    ):
        text = await response.text()
    assert 'pyfaas_async_processed_total{function="echo.openfaas-fn"} 1.0' in text
    assert "pyfaas_async_queue_wait_seconds_count" in text
    assert "pyfaas_async_run_seconds_count" in text
    assert "pyfaas_async_queue_depth" in text


async def test_queue_depth_follows_the_backlog(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    ids = [await submit(queue.js, queue.kv, queue.layout, "slow-0_2") for _ in range(6)]
    worker = await start_worker(max_inflight="1")

    def depth() -> float:
        value = worker.registry.get_sample_value(
            "pyfaas_async_queue_depth", {"function": "slow-0_2.openfaas-fn"}
        )
        return -1.0 if value is None else value

    await until(lambda: depth() >= 4, what="depth of the backlog")
    await until(lambda: all(gateway.calls[i] == 1 for i in ids), what="all calls")
    await until(lambda: depth() == 0, what="empty queue")
    assert (
        worker.registry.get_sample_value("pyfaas_async_processed_total", {"function": "slow-0_2.openfaas-fn"})
        == 6
    )


async def test_two_workers_share_the_queue_without_duplicates(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    ids = [await submit(queue.js, queue.kv, queue.layout, "slow-0_02") for _ in range(120)]
    first = await start_worker(max_inflight="5")
    second = await start_worker(max_inflight="5")
    await until(lambda: all(gateway.calls[i] >= 1 for i in ids), what="all calls")
    assert all(gateway.calls[i] == 1 for i in ids)
    assert first.processor is not None and second.processor is not None
    await until(
        lambda: first.processor.counters.processed + second.processor.counters.processed == 120,  # type: ignore[union-attr]
        what="outcomes recorded",
    )
    assert first.processor.counters.processed > 0 and second.processor.counters.processed > 0


async def test_unreadable_message_is_dead_lettered_not_lost(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    ack = await queue.js.publish(queue.layout.call_subject("echo", "openfaas-fn"), b"{not json")
    worker = await start_worker()
    await until(lambda: worker.processor is not None and worker.processor.counters.dead_lettered == 1)
    dead = await queue.js.get_msg(
        queue.layout.dead_stream, subject=queue.layout.dead_subject(f"seq-{ack.seq}")
    )
    assert dead.data == b"{not json"
    assert dead.headers is not None and dead.headers["Pyfaas-Status"] == "400"
    assert "invalid QueueRequest" in dead.headers["Pyfaas-Error"]
    assert sum(gateway.calls.values()) == 0
