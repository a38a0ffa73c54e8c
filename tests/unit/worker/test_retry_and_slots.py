"""Pure parts of the worker: retry classification, backoff, the fair slot allocator, settings, layout."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyfaas.core.errors import ConfigError
from pyfaas.core.labels import RetryPolicy, retry_policy
from pyfaas.core.queue_layout import CallbackJob, QueueLayout, is_valid_call_id
from pyfaas.gateway.async_calls.routes import AsyncSettings
from pyfaas.worker.retry import Outcome, backoff_delay, classify
from pyfaas.worker.settings import DEFAULT_RETRY_CODES, WorkerSettings
from pyfaas.worker.slots import FairSlots

POLICY = RetryPolicy(attempts=3, codes=frozenset(DEFAULT_RETRY_CODES), min_wait=1.0, max_wait=8.0)


@pytest.mark.parametrize(
    ("status", "internal", "attempt", "expected"),
    [
        (200, False, 1, Outcome.SUCCEEDED),
        (302, False, 3, Outcome.SUCCEEDED),
        (429, False, 1, Outcome.RETRY),
        (503, False, 2, Outcome.RETRY),
        (503, False, 3, Outcome.DEAD),
        (400, False, 1, Outcome.FAILED),
        (404, False, 1, Outcome.FAILED),
        (501, False, 1, Outcome.FAILED),
        (501, True, 1, Outcome.RETRY),  # platform-generated 5xx is retried
        (404, True, 1, Outcome.FAILED),
    ],
)
def test_classify(status: int, internal: bool, attempt: int, expected: Outcome) -> None:
    assert classify(status=status, internal=internal, attempt=attempt, policy=POLICY) is expected


def test_annotation_overrides_reach_the_decision() -> None:
    policy = retry_policy({"com.openfaas.retry.attempts": "5", "com.openfaas.retry.codes": "418"}, POLICY)
    assert classify(status=418, internal=False, attempt=4, policy=policy) is Outcome.RETRY
    assert classify(status=503, internal=False, attempt=1, policy=policy) is Outcome.FAILED


@given(attempt=st.integers(1, 60), rand=st.floats(0, 1))
def test_backoff_is_bounded_and_grows(attempt: int, rand: float) -> None:
    delay = backoff_delay(attempt, min_wait=0.5, max_wait=30.0, rand=lambda: rand)
    capped = min(30.0, 0.5 * 2 ** (attempt - 1))
    assert capped / 2 <= delay <= capped


def test_backoff_exponential_then_capped() -> None:
    fixed = [backoff_delay(a, min_wait=1.0, max_wait=8.0, rand=lambda: 1.0) for a in range(1, 7)]
    assert fixed == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


async def test_slots_take_turns_between_functions() -> None:
    slots = FairSlots(2)
    assert await slots.acquire("a", 5) == 2
    order: list[str] = []

    async def want(key: str) -> None:
        await slots.acquire(key, 5)
        order.append(key)

    # a loop turn after each step (sleep(0)): a task runs up to its wait, fixing the order they asked in
    busy = asyncio.create_task(want("a"))
    await asyncio.sleep(0)
    other = asyncio.create_task(want("b"))
    await asyncio.sleep(0)
    slots.release(1)
    await asyncio.sleep(0)
    slots.release(1)
    await asyncio.gather(busy, other)
    assert order == ["a", "b"]  # one slot each, in the order they asked
    assert slots.in_use == 2


async def test_slots_split_free_slots_evenly() -> None:
    slots = FairSlots(10)
    assert await slots.acquire("a", 10) == 10
    got: dict[str, int] = {}

    async def want(key: str) -> None:
        got[key] = await slots.acquire(key, 10)

    tasks = [asyncio.create_task(want(k)) for k in ("a", "b")]
    await asyncio.sleep(0)  # one loop turn: both wait
    slots.release(10)
    await asyncio.gather(*tasks)
    assert got == {"a": 5, "b": 5}


async def test_cancelled_waiter_gives_back_its_grant() -> None:
    slots = FairSlots(1)
    await slots.acquire("a")
    waiter = asyncio.create_task(slots.acquire("b"))
    await asyncio.sleep(0)  # one loop turn: the waiter waits
    waiter.cancel()
    slots.release(1)
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.free == 1


def test_worker_settings_openfaas_names() -> None:
    settings = WorkerSettings.from_env(
        {
            "faas_nats_address": "nats.example",
            "faas_nats_port": "4333",
            "faas_gateway_address": "gw",
            "max_inflight": "7",
            "ack_wait": "1m",
            "max_retry_attempts": "3",
            "max_retry_wait": "30s",
            "initial_retry_wait": "2",
            "retry_http_codes": "429, 503",
        }
    )
    assert settings.nats_servers() == ["nats://nats.example:4333"]
    assert settings.gateway_base() == "http://gw:8080"
    assert settings.ack_wait == 60.0
    policy = settings.default_retry()
    assert policy == RetryPolicy(attempts=3, codes=frozenset({429, 503}), min_wait=2.0, max_wait=30.0)
    defaults = WorkerSettings.from_env({})
    assert defaults.retry_http_codes == [408, 429, 500, 502, 503, 504]
    assert WorkerSettings.from_env({"gateway_url": "http://g:1/"}).gateway_base() == "http://g:1"
    assert WorkerSettings.from_env({"nats_url": "nats://a:1,nats://b:2"}).nats_servers() == [
        "nats://a:1",
        "nats://b:2",
    ]


def test_worker_settings_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        WorkerSettings.from_env({"max_inflight": "0"})
    assert info.value.field == "max_inflight"
    with pytest.raises(ConfigError) as info:
        WorkerSettings.from_env({"ack_wait": "soon"})
    assert info.value.field == "ack_wait"


def test_async_settings() -> None:
    settings = AsyncSettings.from_env({"faas_nats_address": "n", "nats_stream": "CALLS"})
    assert settings.nats_servers() == ["nats://n:4222"]
    assert settings.async_max_body_bytes == 1024 * 1024
    assert settings.layout().calls_stream == "CALLS"
    clustered = AsyncSettings.from_env({"nats_stream_replicas": "3"}).layout()
    assert {config.num_replicas for config in clustered.stream_configs()} == {3}
    assert clustered.records_config().replicas == 3


def test_layout_subjects() -> None:
    layout = QueueLayout()
    subject = layout.call_subject("echo", "openfaas-fn")
    assert subject == "faas.calls.openfaas-fn.echo"
    assert layout.function_of_subject(subject) == ("echo", "openfaas-fn")
    assert layout.function_of_subject("faas.dead.x") is None
    assert layout.consumer_name("a-b", "c") != layout.consumer_name("a", "b-c")
    names = {config.name for config in layout.stream_configs()}
    assert names == {"PYFAAS_CALLS", "PYFAAS_DEAD", "PYFAAS_CALLBACKS"}


def test_call_ids_are_subject_tokens() -> None:
    assert is_valid_call_id("0b4c2c1e-6a4d-4a8e-9f57-7f5b0f2d7d1a")
    for bad in ("", "a.b", "a b", "a*", ">", "x" * 129):
        assert not is_valid_call_id(bad)


def test_callback_job_round_trip() -> None:
    job = CallbackJob(
        callId="c", function="f", namespace="n", url="http://x/cb", status=200, body=b"\x00\xffbin"
    )
    assert CallbackJob.model_validate_json(job.model_dump_json()) == job


def test_oversize_callback_body_is_cut_to_fit() -> None:
    from pyfaas.worker.calls import TRUNCATED_HEADER, _fit

    job = CallbackJob(
        callId="c", function="f", namespace="n", url="http://x/cb", status=200, body=b"y" * 200_000
    )
    assert _fit(job, 1_000_000) is job
    cut = _fit(job, 64 * 1024)
    assert len(cut.model_dump_json()) <= 64 * 1024
    assert cut.headers[TRUNCATED_HEADER] == ["200000"]
    assert cut.body == b"y" * len(cut.body) and len(cut.body) > 30_000
