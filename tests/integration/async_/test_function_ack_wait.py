"""One timeout per function, the worker's part: each function's consumer gets the ack wait derived from the
function's declared timeout (followed when it changes), an explicit ``ack_wait`` wins, and a call running
past the consumer's ack wait runs once, with one callback, held by in-progress acks."""

from __future__ import annotations

from pyfaas.core.timeouts import ANNOTATION_TIMEOUT, derive
from tests.integration.async_.conftest import Queue, WorkerFactory
from tests.integration.async_.test_worker import until_callback_status, wait_state
from tests.support import polling
from tests.support.async_calls import CallbackReceiver, FakeGateway, submit

NS = "openfaas-fn"


async def consumer_ack_wait(queue: Queue, function: str) -> float:
    info = await queue.js.consumer_info(queue.layout.calls_stream, queue.layout.consumer_name(function, NS))
    return float(info.config.ack_wait or 0)


async def test_each_function_gets_the_ack_wait_of_its_declared_timeout(
    queue: Queue, gateway: FakeGateway, start_worker: WorkerFactory
) -> None:
    await start_worker(ack_wait=None)  # not set: derived per function
    first = await submit(queue.js, queue.kv, queue.layout, "echo", annotations={ANNOTATION_TIMEOUT: "20s"})
    await wait_state(queue, first, "succeeded")
    assert await consumer_ack_wait(queue, "echo") == derive(20).worker_ack_wait == 28.0
    # redeployed with a shorter timeout: the next call's declared timeout retunes the consumer in place
    second = await submit(queue.js, queue.kv, queue.layout, "echo", annotations={ANNOTATION_TIMEOUT: "2s"})
    await wait_state(queue, second, "succeeded")
    await polling.eventually(
        lambda: consumer_ack_wait(queue, "echo"), lambda wait: wait == derive(2).worker_ack_wait == 4.0, 10
    )
    assert gateway.calls[first] == gateway.calls[second] == 1


async def test_a_call_longer_than_the_ack_wait_runs_once_with_one_callback(
    queue: Queue, gateway: FakeGateway, receiver: CallbackReceiver, start_worker: WorkerFactory
) -> None:
    # the worker's explicit ack_wait (1 s) wins over the function's (5 s → 7 s); the 2.5 s call outlives it
    await start_worker(ack_wait="1s")
    call_id = await submit(
        queue.js,
        queue.kv,
        queue.layout,
        "slow-2_5",
        callback_url=receiver.url,
        annotations={ANNOTATION_TIMEOUT: "5s"},
    )
    final = await wait_state(queue, call_id, "succeeded", limit=20)
    await until_callback_status(queue, call_id)
    assert await consumer_ack_wait(queue, "slow-2_5") == 1.0
    assert final.attempts == 1 and gateway.calls[call_id] == 1
    assert receiver.delivered(call_id) == 1
