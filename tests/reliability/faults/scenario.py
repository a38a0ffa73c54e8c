"""One fault under load: steady sync + async traffic, a part SIGKILLed, restarted, and what the clients saw.

``run_fault(stack, name, kill, restart)`` sends load through the gateway for the whole scenario (baseline,
fault, recovery), then waits until every accepted async call has a final record and a callback. The returned
``FaultReport`` holds the figures the tests assert and the suite prints.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tests.support.load import LoadGenerator, LoadTarget, Outcome, recovery_after
from tests.support.process_stack import FINAL_STATES, ProcessStack, call_states

__all__ = ["FAST_FAILURES", "FaultReport", "run_fault"]

RATE = 40.0
ASYNC_SHARE = 0.25
CLIENT_TIMEOUT = 5.0
BASELINE = 1.5
DOWN_FOR = 1.5
AFTER_RESTART = 5.0
DRAIN_WITHIN = 40.0

FAST_FAILURES = frozenset({"refused", "disconnected", "reset"})
"""Connection-level failures that come at once (the gateway itself is down)."""


@dataclass
class FaultReport:
    part: str
    sync_sent: int
    sync_failed_during_fault: int
    failure_kinds: Counter[str]
    hangs: int
    restart_took: float
    """Seconds from spawning the replacement to it reporting ready."""
    sync_recovery: float | None
    """Seconds from spawning the replacement until every later sync request succeeded."""
    async_recovery: float | None
    async_accepted: int
    async_states: Counter[str]
    callbacks_missing: int
    drained_in: float

    @property
    def lost(self) -> int:
        return sum(n for state, n in self.async_states.items() if state not in FINAL_STATES)

    def line(self) -> str:
        def secs(value: float | None) -> str:
            return "never" if value is None else f"{value:.2f}s"

        return (
            f"{self.part:8} sync {self.sync_sent:4} sent, {self.sync_failed_during_fault:3} failed in the "
            f"fault {dict(self.failure_kinds)}, hangs {self.hangs}; restart {self.restart_took:.2f}s, "
            f"sync recovered {secs(self.sync_recovery)}, async {secs(self.async_recovery)} after it; "
            f"async {self.async_accepted} accepted → {dict(self.async_states)}, lost {self.lost}, "
            f"callbacks missing {self.callbacks_missing} (drained in {self.drained_in:.1f}s)"
        )


def _kind(outcome: Outcome) -> str:
    return outcome.error or str(outcome.status)


async def run_fault(
    stack: ProcessStack,
    part: str,
    kill: Callable[[], None],
    restart: Callable[[], Awaitable[None]],
    *,
    down_for: float = DOWN_FOR,
) -> FaultReport:
    target = LoadTarget(
        base_url=stack.url,
        sync_path="/function/echo",
        async_path="/async-function/echo",
        rate=RATE,
        async_share=ASYNC_SHARE,
        timeout=CLIENT_TIMEOUT,
        async_headers={"X-Callback-Url": stack.receiver.url},
    )
    load = LoadGenerator(target)
    stop = asyncio.Event()
    running = asyncio.create_task(load.run(120.0, stop))
    try:
        # the phases are spans of time under steady load (the behaviour measured), not waits for an event
        await asyncio.sleep(BASELINE)
        killed_at = load.now()
        kill()
        await asyncio.sleep(down_for)
        restarted_at = load.now()
        await restart()
        ready_at = load.now()
        await asyncio.sleep(AFTER_RESTART)
    finally:
        stop.set()
        await running
    outcomes = load.outcomes
    sync = [o for o in outcomes if o.kind == "sync"]
    during = [o for o in sync if killed_at <= o.started < ready_at and not o.ok]

    accepted = load.accepted_call_ids
    began = time.monotonic()
    states: Counter[str] = Counter()
    while True:
        states = await call_states(stack.nats.url, accepted, stack.layout)
        callbacks_missing = sum(stack.receiver.delivered(call_id) < 1 for call_id in accepted)
        settled = all(state in FINAL_STATES for state in states) and not callbacks_missing
        if settled or time.monotonic() - began > DRAIN_WITHIN:
            break
        await asyncio.sleep(0.5)
    return FaultReport(
        part=part,
        sync_sent=len(sync),
        sync_failed_during_fault=len(during),
        failure_kinds=Counter(_kind(o) for o in outcomes if not o.ok),
        hangs=sum(o.hung for o in outcomes),
        restart_took=ready_at - restarted_at,
        sync_recovery=recovery_after(outcomes, restarted_at, kind="sync"),
        async_recovery=recovery_after(outcomes, restarted_at, kind="async"),
        async_accepted=len(accepted),
        async_states=states,
        callbacks_missing=callbacks_missing,
        drained_in=time.monotonic() - began,
    )
