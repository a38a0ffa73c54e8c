"""Where was each duplicated call when the worker died? A passive observer of the queue's NATS traffic.

Core NATS subscribers see every JetStream write as it reaches the server: KV puts (``$KV.<bucket>.<id>``),
callback jobs (``faas.callbacks.>``) and the worker's acknowledgements (``$JS.ACK.<stream>.>``). With the
fake gateway's start/end times per execution, each call run twice is classified by what had happened to its
first delivery before the SIGKILL:

* ``function running``: the first execution had not answered yet (the unavoidable window);
* ``answered, not recorded``: the function answered, no final record of that delivery reached NATS;
* ``recorded, not acked``: the final record was stored, the ack was not (the redelivery guard should win);
* ``acked``: even the ack was seen (a server restart can forget it);
* ``first run after the kill``: not a consequence of the SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from pyfaas.core.queue_layout import QueueLayout
from tests.support.async_calls import FakeGateway

__all__ = ["QueueObserver", "classify_duplicates", "exposure"]

_TERMINAL = frozenset({"succeeded", "failed", "dead-lettered"})
_IN_TRANSIT = 0.2
"""Seconds after its replacement was spawned in which a function call starting was still sent by the killed
worker (a request already in the socket; the replacement needs longer just to start Python and connect)."""


@dataclass
class QueueObserver:
    """First time (loop clock) the observer saw each event of a call's first delivery."""

    layout: QueueLayout
    sequences: dict[int, str] = field(default_factory=dict)
    """Work-stream sequence -> call id (filled by the submitter)."""
    recorded: dict[str, float] = field(default_factory=dict)
    """Call id -> first final record written by delivery 1."""
    running: dict[str, float] = field(default_factory=dict)
    callback_jobs: dict[str, float] = field(default_factory=dict)
    acked: dict[int, float] = field(default_factory=dict)
    """Stream sequence -> first ``+ACK`` of delivery 1."""
    _subs: list[Subscription] = field(default_factory=list)

    async def start(self, nc: NATS) -> None:
        self._subs = [
            await nc.subscribe(f"$KV.{self.layout.records_bucket}.>", cb=self._on_record),
            await nc.subscribe(self.layout.callbacks_wildcard, cb=self._on_callback_job),
            await nc.subscribe(f"$JS.ACK.{self.layout.calls_stream}.>", cb=self._on_ack),
        ]

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()

    async def _on_record(self, msg: Msg) -> None:
        try:
            record = json.loads(msg.data)
        except ValueError:
            return
        call_id, state = record.get("callId", ""), record.get("state", "")
        if record.get("attempts", 1) != 1:
            return
        now = asyncio.get_running_loop().time()
        if state in _TERMINAL:
            self.recorded.setdefault(call_id, now)
        elif state == "running":
            self.running.setdefault(call_id, now)

    async def _on_callback_job(self, msg: Msg) -> None:
        try:
            job = json.loads(msg.data)
        except ValueError:
            return
        if job.get("attempts", 1) == 1:
            self.callback_jobs.setdefault(job.get("callId", ""), asyncio.get_running_loop().time())

    async def _on_ack(self, msg: Msg) -> None:
        # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>
        parts = msg.subject.split(".")
        if msg.data not in (b"+ACK", b"") or len(parts) < 9 or parts[4] != "1":
            return
        self.acked.setdefault(int(parts[5]), asyncio.get_running_loop().time())


def classify_duplicates(
    gateway: FakeGateway, observer: QueueObserver, ids: list[str], kill_time: float, respawned: float
) -> Counter[str]:
    """Count the calls run more than once by the state their first delivery was in at ``kill_time`` (taken
    once the worker is dead; ``respawned``: once its replacement is spawned).

    Writes and acks tagged with delivery 1 can only come from the killed worker, so whether they reached
    NATS at all (not when the observer saw them) places the kill; function times are the gateway's clock."""
    seq_of = {call_id: seq for seq, call_id in observer.sequences.items()}
    states: Counter[str] = Counter()
    for call_id in ids:
        if gateway.calls[call_id] < 2:
            continue
        started = gateway.first_start.get(call_id, float("inf"))
        ended = gateway.first_end.get(call_id, float("inf"))
        if started > respawned + _IN_TRANSIT:
            states["first run after the kill"] += 1
        elif ended > kill_time:
            states["function running"] += 1
        elif seq_of.get(call_id, -1) in observer.acked:
            states["acked"] += 1
        elif call_id in observer.recorded:
            states["recorded, not acked"] += 1
        elif call_id in observer.callback_jobs:
            states["answered, callback job stored, not recorded"] += 1
        else:
            states["answered, not recorded"] += 1
    return states


def exposure(gateway: FakeGateway, observer: QueueObserver, ids: list[str]) -> dict[str, float]:
    """p50/p90 (ms) over the first deliveries of: function start -> answer, answer -> callback job stored,
    answer -> final record stored. A worker's death inside them re-runs the call (until the record is
    stored, or until the job is stored where the redelivery guard also looks for the job)."""
    windows: dict[str, list[float]] = {"running": [], "answer_to_job": [], "answer_to_record": []}
    for call_id in ids:
        start, end = gateway.first_start.get(call_id), gateway.first_end.get(call_id)
        if start is None or end is None:
            continue
        windows["running"].append(end - start)
        if call_id in observer.callback_jobs:
            windows["answer_to_job"].append(observer.callback_jobs[call_id] - end)
        if call_id in observer.recorded:
            windows["answer_to_record"].append(observer.recorded[call_id] - end)
    figures: dict[str, float] = {}
    for name, values in windows.items():
        ordered = sorted(values) or [float("nan")]
        figures[f"{name}_p50_ms"] = round(1000 * ordered[len(ordered) // 2], 1)
        figures[f"{name}_p90_ms"] = round(1000 * ordered[int(0.9 * len(ordered))], 1)
    return figures
