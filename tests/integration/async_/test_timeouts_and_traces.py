"""One timeout per function, and W3C trace context end to end, on the real local platform.

One stack (``ProcessStack``: nats-server, gateway with the local provider, queue worker, python-mode
replicas) with OpenTelemetry export on to a real OTLP/HTTP receiver on loopback. The gateway's and the
worker's own timeouts are set to 1.5 s, so a function declaring 60 s that answers after 2 s proves each of
them took the function's timeout instead of its own default, without waiting 60 s; the watchdog's
derived settings are read from the running replica's environment.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from pyfaas.core.timeouts import ANNOTATION_TIMEOUT
from pyfaas.core.tracecontext import trace_id_of
from tests.support.async_calls import until
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.polling import eventually
from tests.support.process_stack import ProcessStack
from tests.support.providers import python_function, write_handler
from tests.support.timeouts import SLEEPER, final_record

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), pytest.mark.asyncio(loop_scope="module")]

TRACEPARENT = "00-{trace}-00f067aa0ba902b7-01"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def receiver() -> AsyncIterator[OtlpReceiver]:
    server = OtlpReceiver()
    await server.start()
    yield server
    await server.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver
) -> AsyncIterator[ProcessStack]:
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    root = tmp_path_factory.mktemp("timeouts")
    processes = ProcessStack(
        root,
        gateway_env={"upstream_timeout": "1500ms", **otel},
        worker_env={"upstream_timeout": "1500ms", "max_retry_attempts": "3", **otel},
    )
    try:
        await processes.start()
        handler = write_handler(root / "handler", SLEEPER)
        for name, timeout in (("t1", "1s"), ("t60", "60s")):
            spec = python_function(name, handler, annotations={ANNOTATION_TIMEOUT: timeout})
            await processes.deploy(spec.wire(), name, 1)
        yield processes
    finally:
        await processes.close()


async def _async_call(stack: ProcessStack, path: str, headers: dict[str, str] | None = None) -> str:
    call_headers = {"X-Callback-Url": stack.receiver.url, **(headers or {})}
    async with stack.session() as session, session.post(path, headers=call_headers) as response:
        assert response.status == 202, await response.text()
        return response.headers["X-Call-Id"]


async def _final_record(stack: ProcessStack, call_id: str, within: float = 30.0) -> dict[str, Any]:
    async with stack.session() as session:
        return await final_record(session, call_id, within)


async def _callback(stack: ProcessStack, call_id: str, within: float = 20.0) -> tuple[dict[str, str], bytes]:
    await until(lambda: bool(stack.receiver.received.get(call_id)), within, f"a callback for {call_id}")
    return stack.receiver.received[call_id][-1]


# one timeout per function ------------------------------------------------------------------------
async def test_sync_call_past_a_1s_timeout_is_504_naming_function_and_limit(stack: ProcessStack) -> None:
    async with stack.session() as session:
        async with session.get("/function/t1?s=0") as response:
            assert response.status == 200
        started = time.monotonic()
        async with session.get("/function/t1?s=3") as response:
            assert response.status == 504
            assert response.content_type == "application/json"
            assert await response.json() == {
                "error": "function t1.openfaas-fn did not answer within its timeout of 1s",
                "function": "t1.openfaas-fn",
                "timeout": "1s",
            }
        # answered at its 1 s timeout (the body names it), before the function's own 3 s were over: the bound
        # is the function's sleep, not a figure for the machine's speed
        assert time.monotonic() - started < 3.0


async def test_sync_2s_call_under_a_60s_timeout_outlives_the_gateway_default(stack: ProcessStack) -> None:
    async with stack.session() as session, session.get("/function/t60?s=2") as response:
        assert response.status == 200, await response.text()
        answer = await response.json()
    assert answer["slept"] == 2.0
    # the watchdog's own settings, as the provider derived them for 60 s (the replica's environment)
    assert answer["settings"] == {"exec_timeout": "1m5s", "write_timeout": "1m10s", "read_timeout": "1m10s"}


async def test_async_call_past_a_1s_timeout_is_recorded_as_timed_out(stack: ProcessStack) -> None:
    call_id = await _async_call(stack, "/async-function/t1?s=3")
    record = await _final_record(stack, call_id)
    assert record["state"] == "failed" and record["lastStatus"] == 504
    assert record["error"].startswith("timed out after 1s")
    assert record["attempts"] == 1  # a call that used its whole time is not run again
    headers, body = await _callback(stack, call_id)
    assert headers["X-Function-Status"] == "504"
    # no traceparent was sent: the gateway created one at submission, and the callback continues it
    assert record["traceId"] is not None and trace_id_of(headers["traceparent"]) == record["traceId"]
    assert json.loads(body) == {
        "error": "function t1.openfaas-fn did not answer within its timeout of 1s",
        "function": "t1.openfaas-fn",
        "timeout": "1s",
    }


async def test_async_2s_call_under_a_60s_timeout_outlives_the_worker_default(stack: ProcessStack) -> None:
    call_id = await _async_call(stack, "/async-function/t60?s=2")
    record = await _final_record(stack, call_id)
    assert record["state"] == "succeeded", record
    assert record["attempts"] == 1
    _, body = await _callback(stack, call_id)
    assert json.loads(body)["slept"] == 2.0


# W3C trace context -------------------------------------------------------------------------------
async def test_sync_trace_reaches_the_function_its_logs_and_the_collector(
    stack: ProcessStack, receiver: OtlpReceiver
) -> None:
    trace = uuid.uuid4().hex
    async with stack.session() as session:
        async with session.get("/function/t1", headers={"traceparent": TRACEPARENT.format(trace=trace)}) as r:
            seen = await r.json()
        assert trace_id_of(seen["header"]) == trace
        assert seen["context"] == seen["header"] and seen["trace_id"] == trace
        async with session.get("/function/t1") as response:  # none sent: one is created
            created = await response.json()
        assert created["trace_id"] is not None and created["trace_id"] != trace

        async def logs() -> str:
            async with session.get("/system/logs?name=t1&tail=50") as response:
                return await response.text()

        await eventually(logs, lambda text: f"[trace {trace}]" in text, 10)
    spans = await receiver.wait_for(trace, {"gateway", "function"})
    gateway = next(span for span in spans if span.name == "gateway")
    function = next(span for span in spans if span.name.startswith("function"))
    assert gateway.parent_span_id == "00f067aa0ba902b7" and gateway.service == "pyfaas-gateway"
    assert function.parent_span_id == gateway.span_id and function.service == "t1"
    # the handler's context names the function's span as its parent
    assert seen["context"].split("-")[2] == function.span_id


async def test_async_trace_crosses_the_queue_to_the_worker_call_and_the_callback(
    stack: ProcessStack, receiver: OtlpReceiver
) -> None:
    trace = uuid.uuid4().hex
    call_id = await _async_call(
        stack, "/async-function/t60", {"traceparent": TRACEPARENT.format(trace=trace)}
    )
    record = await _final_record(stack, call_id)
    assert record["state"] == "succeeded" and record["traceId"] == trace
    headers, body = await _callback(stack, call_id)
    assert trace_id_of(headers["traceparent"]) == trace
    assert json.loads(body)["trace_id"] == trace
    spans = await receiver.wait_for(trace, {"gateway", "queue wait", "worker call", "function"})
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(
            span.name.split(" ")[0] if span.name.startswith("function") else span.name, []
        ).append(span)
    submit, invoke = sorted(by_name["gateway"], key=lambda span: span.start_ns)
    (queue_wait,), (worker_call,), (function,) = (
        by_name["queue wait"],
        by_name["worker call"],
        by_name["function"],
    )
    assert submit.parent_span_id == "00f067aa0ba902b7"
    assert queue_wait.parent_span_id == worker_call.parent_span_id == submit.span_id
    assert queue_wait.service == worker_call.service == "pyfaas-queue-worker"
    assert invoke.parent_span_id == worker_call.span_id
    assert function.parent_span_id == invoke.span_id
    assert queue_wait.end_ns <= worker_call.start_ns
