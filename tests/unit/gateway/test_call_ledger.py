"""The async call ledger on its own: eligibility, TTLs, the byte budget, single-flight, what is kept."""

from __future__ import annotations

import asyncio

from aiohttp import web

from pyfaas.gateway.async_calls.call_ledger import REPLAYED_HEADER, CallLedger, is_final_status


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ledger(clock: Clock, **overrides: float) -> tuple[CallLedger, list[str]]:
    reasons: list[str] = []
    options = {"ttl": 60.0, "max_bytes": 10_000, "max_body": 1000, "issued_ttl": 600.0, "max_issued": 100}
    options.update(overrides)
    built = CallLedger(
        ttl=options["ttl"],
        max_bytes=int(options["max_bytes"]),
        max_body=int(options["max_body"]),
        issued_ttl=options["issued_ttl"],
        max_issued=int(options["max_issued"]),
        count_uncached=reasons.append,
        clock=clock,
    )
    return built, reasons


def ok(body: bytes = b"done", status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, headers={"X-Function": "yes", "Content-Type": "text/plain"})


async def run(
    target: CallLedger, call_id: str, response: web.StreamResponse | None, function: str = "f"
) -> None:
    target.begin(call_id)
    target.finish(call_id, function, response)


def test_only_issued_ids_for_their_function_are_eligible() -> None:
    clock = Clock()
    target, _ = ledger(clock)
    assert not target.issued  # nothing issued: the proxy's hot path skips the ledger entirely
    target.issue("a", "f")
    assert target.eligible("a", "f")
    assert not target.eligible("a", "g")  # another function
    assert not target.eligible("made-up", "f")
    assert not target.eligible(None, "f")


def test_issued_ids_expire_and_are_bounded() -> None:
    clock = Clock()
    target, _ = ledger(clock, max_issued=3, issued_ttl=10.0)
    for call_id in ("a", "b", "c", "d"):
        target.issue(call_id, "f")
    assert not target.eligible("a", "f")  # oldest forgotten beyond max_issued
    assert all(target.eligible(call_id, "f") for call_id in ("b", "c", "d"))
    clock.now += 11
    assert not target.eligible("b", "f")
    target.issue("e", "f")  # issuing also drops the expired ones
    assert list(target.issued) == ["e"]


def test_disabled_ledger_issues_nothing() -> None:
    target, _ = ledger(Clock(), ttl=0)
    target.issue("a", "f")
    assert not target.issued and not target.eligible("a", "f")


async def test_final_answer_is_kept_for_ttl_and_replayed_marked() -> None:
    clock = Clock()
    target, _ = ledger(clock, ttl=5.0)
    target.issue("a", "f")
    await run(target, "a", ok(b"first"))
    answer = target.answer("a")
    assert answer is not None
    replay = answer.response()
    assert (replay.status, replay.body) == (200, b"first")
    assert replay.headers[REPLAYED_HEADER] == "true"
    assert replay.headers["X-Function"] == "yes"
    clock.now += 6
    assert target.answer("a") is None
    assert target.bytes == 0


async def test_retryable_and_error_statuses_are_not_kept() -> None:
    target, reasons = ledger(Clock())
    for status in (408, 429, 500, 502, 503, 504, 400, 404, 409):
        target.issue(str(status), "f")
        await run(target, str(status), ok(status=status))
        assert target.answer(str(status)) is None, status
    await run(target, "no-response", None)  # the run raised (gateway error) or was cancelled
    assert target.answer("no-response") is None
    assert reasons == []  # not "uncached": these are not final answers at all
    assert is_final_status(200) and is_final_status(302) and not is_final_status(400)


async def test_large_and_streamed_answers_are_not_kept_but_counted() -> None:
    target, reasons = ledger(Clock(), max_body=10)
    await run(target, "large", ok(b"x" * 11))
    await run(target, "streamed", web.StreamResponse(status=200))
    assert target.answer("large") is None and target.answer("streamed") is None
    assert reasons == ["too_large", "streamed"]


async def test_byte_budget_evicts_oldest() -> None:
    target, reasons = ledger(Clock(), max_bytes=1000, max_body=1000)
    for call_id in ("a", "b", "c"):
        await run(target, call_id, ok(b"x" * 400))
    assert target.answer("a") is None  # 3 x (400 + headers + overhead) > 1000
    assert target.answer("c") is not None
    assert target.bytes <= 1000
    await run(target, "huge", ok(b"x" * 990))  # fits max_body, not the budget with its overhead
    assert reasons == ["over_budget"]
    assert target.answer("c") is not None  # nothing evicted for an answer that could never fit


async def test_single_flight_waiters_get_the_first_answer_or_run_themselves() -> None:
    target, _ = ledger(Clock())
    target.issue("a", "f")
    target.begin("a")
    running = target.running("a")
    assert running is not None and not running.done()
    waiter = asyncio.ensure_future(asyncio.shield(running))
    await asyncio.sleep(0)  # one loop turn: the waiter is parked on the running call
    assert not waiter.done()
    target.finish("a", "f", ok(b"once"))
    answer = await asyncio.wait_for(waiter, 1)
    assert answer is not None and answer.body == b"once"
    assert target.running("a") is None

    target.begin("b")
    running = target.running("b")
    assert running is not None
    target.finish("b", "f", ok(status=503))  # a retryable answer: the waiter must run the call itself
    assert await asyncio.wait_for(running, 1) is None
