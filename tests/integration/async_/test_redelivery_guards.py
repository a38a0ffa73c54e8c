"""A worker that died after storing a call's outcome: the next delivery settles it without running it again.

The dead worker is played by the test: it takes the delivery (no ack) with a short ack-wait and stores what
a worker stores before dying; the real worker then gets the redelivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from pyfaas.core.models import AsyncCallRecord
from pyfaas.core.queue_layout import CallbackJob
from pyfaas.worker.records import RecordStore
from tests.integration.async_.conftest import Queue, WorkerFactory
from tests.support.async_calls import CallbackReceiver, FakeGateway, eventually, submit, until

NAMESPACE = "openfaas-fn"


async def take_delivery(queue: Queue, stream: str, consumer: str, subject: str) -> int:
    """Create ``consumer`` with a 1 s ack-wait and take one delivery without acknowledging it (a worker that
    then dies); returns the message's stream sequence."""
    await queue.js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=consumer,
            filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=1.0,
            max_deliver=-1,
        ),
    )
    sub = await queue.js.pull_subscribe_bind(durable=consumer, stream=stream)
    (msg,) = await sub.fetch(1, timeout=5)
    await sub.unsubscribe()
    return msg.metadata.sequence.stream


async def record(queue: Queue, call_id: str) -> AsyncCallRecord:
    entry = await queue.kv.get(call_id)
    return AsyncCallRecord.model_validate_json(entry.value or b"")


async def test_stored_callback_job_settles_the_redelivery_without_a_rerun(
    queue: Queue, gateway: FakeGateway, receiver: CallbackReceiver, start_worker: WorkerFactory
) -> None:
    call_id = await submit(queue.js, queue.kv, queue.layout, "echo", body=b"once", callback_url=receiver.url)
    seq = await take_delivery(
        queue,
        queue.layout.calls_stream,
        queue.layout.consumer_name("echo", NAMESPACE),
        queue.layout.call_subject("echo", NAMESPACE),
    )
    # the dead worker ran the function and stored the callback job, not the final record
    now = datetime.now(UTC)
    final = AsyncCallRecord(
        callId=call_id,
        function="echo",
        state="succeeded",
        attempts=1,
        lastStatus=200,
        queuedAt=now,
        startedAt=now,
        finishedAt=now,
        callbackUrl=receiver.url,
    )
    job = CallbackJob(
        callId=call_id,
        function="echo",
        namespace=NAMESPACE,
        url=receiver.url,
        status=200,
        body=b"once",
        sequence=seq,
        record=final,
    )
    await queue.js.publish(
        queue.layout.callback_subject("echo", NAMESPACE, call_id),
        job.model_dump_json().encode(),
        headers={"Nats-Msg-Id": f"cb-{call_id}-{seq}"},
    )
    worker = await start_worker(callback_initial_wait="5s")
    assert worker.processor is not None

    async def settled() -> bool:
        current = await record(queue, call_id)
        return current.state == "succeeded" and current.callbackStatus == 204

    await eventually(settled, limit=20, what="succeeded with callback 204")
    await until(lambda: worker.processor is not None and worker.processor.counters.duplicates_skipped == 1)
    assert gateway.calls[call_id] == 0
    assert receiver.delivered(call_id) == 1
    info = await queue.js.stream_info(queue.layout.calls_stream)
    assert info.state.messages == 0


async def test_delivery_after_a_death_without_an_answer_runs_and_is_counted(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    call_id = await submit(queue.js, queue.kv, queue.layout, "echo")
    await take_delivery(
        queue,
        queue.layout.calls_stream,
        queue.layout.consumer_name("echo", NAMESPACE),
        queue.layout.call_subject("echo", NAMESPACE),
    )
    worker = await start_worker()

    async def succeeded() -> bool:
        return (await record(queue, call_id)).state == "succeeded"

    await eventually(succeeded, limit=20, what="the redelivered call run")
    assert worker.processor is not None
    assert worker.processor.counters.possible_reruns == 1
    assert gateway.calls[call_id] == 1
    assert gateway.last_request[call_id]["x_attempt"] == "2"


async def test_callback_already_answered_is_not_posted_again(
    queue: Queue, receiver: CallbackReceiver, start_worker: WorkerFactory
) -> None:
    call_id = "cb-posted-once"
    subject = queue.layout.callback_subject("echo", NAMESPACE, call_id)
    job = CallbackJob(callId=call_id, function="echo", namespace=NAMESPACE, url=receiver.url, status=200)
    await queue.js.publish(subject, job.model_dump_json().encode())
    await take_delivery(queue, queue.layout.callbacks_stream, queue.layout.callbacks_consumer, subject)
    # the dead worker posted it and recorded the receiver's answer, then died before acknowledging
    done = AsyncCallRecord(
        callId=call_id, function="echo", state="succeeded", queuedAt=datetime.now(UTC), callbackStatus=204
    )
    await queue.kv.put(call_id, json.dumps(done.wire()).encode())
    worker = await start_worker()
    assert worker.callbacks is not None

    async def acknowledged() -> bool:
        info = await queue.js.stream_info(queue.layout.callbacks_stream)
        return info.state.messages == 0

    await eventually(acknowledged, limit=20, what="the redelivered job acknowledged")
    assert receiver.received[call_id] == []


async def test_function_sees_call_id_and_attempt(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    call_id = await submit(queue.js, queue.kv, queue.layout, "flaky429-1")

    async def succeeded() -> bool:
        return (await record(queue, call_id)).state == "succeeded"

    worker = await start_worker()
    await eventually(succeeded, what="success after one 429")
    assert gateway.last_request[call_id]["x_call_id"] == call_id
    assert gateway.last_request[call_id]["x_attempt"] == "2"
    assert worker.processor is not None
    assert worker.processor.counters.possible_reruns == 0  # a retry after an answer is not a rerun


async def test_record_store_restores_a_final_record_only_over_an_unfinished_one(queue: Queue) -> None:
    store = RecordStore(queue.kv)
    call_id = await submit(queue.js, queue.kv, queue.layout, "never-run")
    queued = await record(queue, call_id)
    final = queued.model_copy(update={"state": "succeeded", "attempts": 1, "lastStatus": 200})
    # the callback sender waits for the worker's final write, then writes the job's record itself
    await store.set_callback_status(call_id, 204, final=final, settle_tries=2)
    restored = await record(queue, call_id)
    assert (restored.state, restored.lastStatus, restored.callbackStatus) == ("succeeded", 200, 204)
    # a later restore (a redelivery that found the job) never overwrites a final record
    await store.restore_final(final.model_copy(update={"lastStatus": 299}))
    assert (await record(queue, call_id)).callbackStatus == 204
    # nor is a missing record a problem: it is created
    await store.restore_final(final.model_copy(update={"callId": "gone-1"}))
    assert (await record(queue, "gone-1")).state == "succeeded"
