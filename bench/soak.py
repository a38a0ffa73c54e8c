"""Soak: sync + async traffic at ~70% of the measured maximum rate for minutes, watching for slow decay.

    .venv/bin/python bench/soak.py [--duration 300] [--window 30] [--fraction 0.7] [--async-share 0.2]
                                   [--json results.json]

Everything real and local, each part its own process (``tests/support/process_stack.py``): ``nats-server``
with JetStream, ``python -m pyfaas.gateway`` (local provider, basic auth), ``python -m pyfaas.worker``,
``python -m pyfaas.idler`` and one python-mode watchdog replica of an echo function.

1. Maximum rate: after a warm-up at the soak's concurrency, closed-loop bursts (``--burst`` s,
   ``--concurrency`` clients back to back) through the gateway: sync calls only (shown), then the soak's mix
   of sync calls and async submissions. An async call costs more than a sync one (a JetStream publish and
   record, later the worker's own call through the gateway and a callback), and most of that cost comes after
   the 202, so the mix's maximum is the burst's answered requests over the burst's time *plus* the time until
   the last of its async calls had its callback. The load generator runs in this process: the figure is what
   this client and the platform reach together on this (shared) machine.
2. Soak: paced at ``--fraction`` of the mixed maximum for ``--duration`` s over ``--connections`` clients
   (each with one request open at most; more than the bursts' so that a slow moment does not stall the
   schedule), a share ``--async-share`` to ``/async-function/echo`` with a callback URL; every request
   bounded by a 5 s client timeout.
3. Then every accepted async call must reach a final record (KV bucket) with a callback.

Printed: per ``--window`` errors, p50/p99 of sync latency and the machine's load average (the machine is
shared: latency follows it); RSS of the gateway, the worker and the replica (plus NATS and the idler, for
information) once the load has settled (end of the first window) and at the end; open file descriptors idle
before the soak, under load, and idle after it (async calls finished), with the count of those that are not
established TCP connections ("other": files, pipes, listeners, half-closed sockets). Keep-alive pools hold
established connections and grow to the highest concurrency seen (the gateway's upstream pool keeps up to
256 idle connections per replica, without expiry), so idle *connections* may rise after a slow moment
without a leak; a leaked file, pipe or half-closed socket shows up among the others, which must not grow
(given up to ``--fd-settle`` s for sockets to finish closing).

Targets (exit 1 when one is missed): 0 errors (non-200 sync, non-202 async, hangs, async calls unfinished or
not succeeded, callbacks missing); at most ``--late-share`` of the requests sent more than 0.5 s behind
schedule (client and platform kept the rate); p99 of the last full window at most ``--p99-ratio`` times the
first; RSS growth (settled to end) below ``--rss-growth``; idle "other" fds after at most ``--fd-slack``
above before.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.load import LoadGenerator, LoadTarget, burst, windows  # noqa: E402
from tests.support.process_stack import FINAL_STATES, ProcessStack, call_states  # noqa: E402

CLIENT_TIMEOUT = 5.0
WATCHED = ("gateway", "worker", "replica")
"""Processes with RSS and fd targets; the others are shown for information."""


@dataclass
class Sample:
    rss_kib: int
    fds: int
    connections: int
    """Of ``fds``: established TCP connections (keep-alive pools hold these; their size follows the highest
    concurrency seen, bounded by the pool's limit)."""

    @property
    def other_fds(self) -> int:
        """Files, pipes, listeners and sockets in any other state (a half-closed socket is CLOSE_WAIT)."""
        return self.fds - self.connections


def established_inodes() -> set[str]:
    """Socket inodes of established TCP connections (``/proc/net/tcp``, state 01)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "01":
                inodes.add(fields[9])
    return inodes


def sample(pid: int, established: set[str]) -> Sample | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        links = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:  # closed meanwhile
                continue
    except OSError:
        return None
    rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    connections = sum(link.startswith("socket:[") and link[8:-1] in established for link in links)
    return Sample(rss, len(links), connections)


def pids(stack: ProcessStack) -> dict[str, int]:
    found: dict[str, int] = {}
    for name, process in (
        ("gateway", stack.gateway.process if stack.gateway else None),
        ("worker", stack.worker.process if stack.worker else None),
        ("nats", stack.nats.process),
        ("idler", stack.idler.process if stack.idler else None),
    ):
        if process is not None:
            found[name] = process.pid
    replicas = stack.replica_pids()
    if replicas:
        found["replica"] = replicas[0]
    return found


def snapshot(processes: dict[str, int]) -> dict[str, Sample | None]:
    established = established_inodes()
    return {name: sample(pid, established) for name, pid in processes.items()}


async def callbacks_for(stack: ProcessStack, call_ids: list[str], within: float) -> float:
    """Seconds until every call in ``call_ids`` had its callback (at most ``within``)."""
    began = time.monotonic()
    while any(stack.receiver.delivered(call_id) < 1 for call_id in call_ids):
        if time.monotonic() - began > within:
            break
        await asyncio.sleep(0.1)
    return time.monotonic() - began


async def settle_async(stack: ProcessStack, call_ids: list[str], within: float) -> tuple[Counter[str], int]:
    """Wait until every call has a final record and a callback; (states, callbacks missing) at the end."""
    began = time.monotonic()
    while True:
        states = await call_states(stack.nats.url, call_ids, stack.layout)
        missing_callbacks = sum(stack.receiver.delivered(call_id) < 1 for call_id in call_ids)
        done = all(state in FINAL_STATES for state in states) and not missing_callbacks
        if done or time.monotonic() - began > within:
            return states, missing_callbacks
        await asyncio.sleep(1.0)


async def soak(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    stack = ProcessStack(root, gateway_env={"LOG_LEVEL": "ERROR"})
    try:
        await stack.start()
        await stack.deploy_echo(replicas=1)
        target = LoadTarget(
            base_url=stack.url,
            sync_path="/function/echo",
            async_path="/async-function/echo",
            async_share=args.async_share,
            timeout=CLIENT_TIMEOUT,
            connections=args.concurrency,  # the bursts' clients; the paced soak gets --connections
            async_headers={"X-Callback-Url": stack.receiver.url},
        )
        sync_only = replace(target, async_path="")
        # Warm-up at the soak's concurrency: connection pools reach the size the soak can need before the
        # idle file descriptors are counted, so only a leak can make the count grow.
        warm = await burst(replace(target, connections=args.connections), duration=3.0)
        await callbacks_for(stack, warm.call_ids, args.drain)
        sync_max = (await burst(sync_only, duration=args.burst)).rate
        mixed = await burst(target, duration=args.burst)
        # The async calls accepted in the burst still have to run: the mix's rate counts that time too.
        drain = await callbacks_for(stack, mixed.call_ids, args.drain)
        mixed_max = mixed.answered / (mixed.elapsed + drain)
        rate = mixed_max * args.fraction
        print(
            f"maximum rate: sync only {sync_max:.0f}/s; mixed ({args.async_share:.0%} async) "
            f"{mixed.rate:.0f}/s answered, {mixed_max:.0f}/s with the async calls run (+{drain:.1f}s), "
            f"{mixed.errors} errors; soaking at {rate:.0f}/s",
            flush=True,
        )
        processes = pids(stack)
        await asyncio.sleep(2.0)
        idle_before = snapshot(processes)

        load = LoadGenerator(replace(target, rate=rate, connections=args.connections))
        running = asyncio.create_task(load.run(args.duration))
        load_average = asyncio.create_task(sample_load_average(load, args.duration))
        await asyncio.sleep(min(args.window, args.duration / 2))
        settled = snapshot(processes)
        await asyncio.sleep(max(0.0, args.duration - load.now() - 1.0))
        final = snapshot(processes)
        await running
        machine_load = await load_average

        drain_began = time.monotonic()
        states, missing_callbacks = await settle_async(stack, load.accepted_call_ids, args.drain)
        drained_in = time.monotonic() - drain_began
        idle_after, fds_settled_in = await idle_fds(processes, idle_before, args.fd_slack, args.fd_settle)
        samples = {"settled": settled, "end": final, "idle_before": idle_before, "idle_after": idle_after}
        return report(
            args,
            load,
            (sync_max, mixed_max, rate),
            (states, missing_callbacks, drained_in),
            samples,
            (machine_load, fds_settled_in),
        )
    finally:
        await stack.close()


async def sample_load_average(load: LoadGenerator, duration: float) -> list[tuple[float, float]]:
    """(seconds since the load began, 1-minute load average of the machine), once a second."""
    samples = []
    while load.now() < duration:
        samples.append((load.now(), os.getloadavg()[0]))
        await asyncio.sleep(1.0)
    return samples


def mean_load(samples: list[tuple[float, float]], start: float, end: float) -> float:
    inside = [value for at, value in samples if start <= at < end]
    return round(sum(inside) / len(inside), 2) if inside else float("nan")


async def idle_fds(
    processes: dict[str, int], before: dict[str, Sample | None], slack: int, within: float
) -> tuple[dict[str, Sample | None], float]:
    """Idle open fds after the load: polled until every watched process is back to its count before (plus
    ``slack``) or ``within`` s pass; connection pools close idle keep-alive connections on their own
    schedule (the gateway's upstream pool after 30 s), a leak never. (samples, seconds it took)."""
    began = time.monotonic()
    while True:
        now = snapshot(processes)
        back = all(
            (b := before.get(name)) is not None
            and (n := now.get(name)) is not None
            and n.other_fds <= b.other_fds + slack
            for name in WATCHED
        )
        if back or time.monotonic() - began > within:
            return now, time.monotonic() - began
        await asyncio.sleep(1.0)


def report(
    args: argparse.Namespace,
    load: LoadGenerator,
    rates: tuple[float, float, float],
    async_outcome: tuple[Counter[str], int, float],
    samples: dict[str, dict[str, Sample | None]],
    machine: tuple[list[tuple[float, float]], float],
) -> dict[str, Any]:
    sync_max, mixed_max, rate = rates
    states, missing_callbacks, drained_in = async_outcome
    load_average, fds_settled_in = machine
    outcomes = load.outcomes
    # Requests due in the last instant start a window of their own: too few to report.
    sync_windows = [w for w in windows(outcomes, args.window, kind="sync") if w.start < args.duration - 0.5]
    async_windows = [w for w in windows(outcomes, args.window, kind="async") if w.start < args.duration - 0.5]
    # A last partial window (requests started in the final moments) is too small to judge p99 by.
    full = [w for w in sync_windows if w.start + args.window <= args.duration + 0.5] or sync_windows
    errors = {
        "sync": sum(not o.ok for o in outcomes if o.kind == "sync"),
        "async_rejected": sum(not o.ok for o in outcomes if o.kind == "async"),
        "hangs": sum(o.hung for o in outcomes),
        "async_unfinished": sum(n for state, n in states.items() if state not in FINAL_STATES),
        "async_not_succeeded": sum(n for state, n in states.items() if state != "succeeded"),
        "callbacks_missing": missing_callbacks,
    }
    p99_ratio = full[-1].p99 / full[0].p99 if full and full[0].p99 > 0 else float("nan")
    resources: dict[str, dict[str, int | None]] = {}
    for name in samples["settled"]:
        resources[name] = {}
        for moment, taken in samples.items():
            figure = taken.get(name)
            resources[name][f"rss_kib_{moment}"] = figure.rss_kib if figure else None
            resources[name][f"fds_{moment}"] = figure.fds if figure else None
            resources[name][f"other_fds_{moment}"] = figure.other_fds if figure else None
    targets: dict[str, dict[str, Any]] = {
        "errors": {"value": sum(errors.values()), "limit": 0},
        "late_share": {"value": round(load.late / max(1, len(outcomes)), 4), "limit": args.late_share},
        "p99_last_over_first": {"value": round(p99_ratio, 3), "limit": args.p99_ratio},
    }
    for name in WATCHED:
        figures = resources.get(name, {})
        rss0, rss1 = figures.get("rss_kib_settled"), figures.get("rss_kib_end")
        fd0, fd1 = figures.get("other_fds_idle_before"), figures.get("other_fds_idle_after")
        growth = (rss1 - rss0) / rss0 if rss0 and rss1 is not None else float("nan")
        targets[f"{name}_rss_growth"] = {"value": round(growth, 4), "limit": args.rss_growth}
        fd_growth = fd1 - fd0 if fd0 is not None and fd1 is not None else None
        targets[f"{name}_idle_fd_growth"] = {"value": fd_growth, "limit": args.fd_slack}
    for name, target in targets.items():
        value, limit = target["value"], target["limit"]
        within = value is not None and value == value  # None (process gone) and NaN fail
        target["ok"] = within and (value < limit if name.endswith("rss_growth") else value <= limit)
    return {
        "duration": args.duration,
        "window": args.window,
        "sync_max_rate": round(sync_max, 1),
        "max_rate": round(mixed_max, 1),
        "rate": round(rate, 1),
        "async_share": args.async_share,
        "sent": len(outcomes),
        "late": load.late,
        "achieved_rate": round(len(outcomes) / args.duration, 1),
        "async_accepted": len(load.accepted_call_ids),
        "async_states": dict(states),
        "async_drained_in": round(drained_in, 2),
        "errors": errors,
        "windows": [
            {**asdict(w), "load_average": mean_load(load_average, w.start, w.start + args.window)}
            for w in sync_windows
        ],
        "idle_fds_settled_in": round(fds_settled_in, 1),
        "async_windows": [asdict(w) for w in async_windows],
        "resources": resources,
        "targets": targets,
        "passed": all(t["ok"] for t in targets.values()),
    }


def print_report(result: dict[str, Any]) -> None:
    share = 100 * result["rate"] / result["max_rate"]
    print(
        f"\nsoak {result['duration']:.0f}s at {result['rate']:.0f}/s ({result['async_share']:.0%} async) = "
        f"{share:.0f}% of the measured mixed maximum {result['max_rate']:.0f}/s (sync only "
        f"{result['sync_max_rate']:.0f}/s); sent {result['sent']} ({result['achieved_rate']}/s), late by the "
        f"client {result['late']}; async drained {result['async_drained_in']}s after the load"
    )
    print("\n| window | sync calls | errors | p50 ms | p99 ms | async accepted | async errors | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    async_by_start = {w["start"]: w for w in result["async_windows"]}
    for w in result["windows"]:
        a = async_by_start.get(w["start"], {"count": 0, "errors": 0})
        end = w["start"] + result["window"]
        print(
            f"| {w['start']:.0f}-{end:.0f} s | {w['count']} | {w['errors']} | {1000 * w['p50']:.1f} | "
            f"{1000 * w['p99']:.1f} | {a['count'] - a['errors']} | {a['errors']} | {w['load_average']:.1f} |"
        )
    print(
        "\n| process | RSS settled MiB | RSS end MiB | growth | fds idle before (other) | under load | "
        "idle after (other) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, f in result["resources"].items():
        rss0, rss1 = f["rss_kib_settled"], f["rss_kib_end"]
        growth = f"{100 * (rss1 - rss0) / rss0:+.1f}%" if rss0 and rss1 is not None else "n/a"
        mib0 = f"{rss0 / 1024:.1f}" if rss0 else "n/a"
        mib1 = f"{rss1 / 1024:.1f}" if rss1 else "n/a"
        print(
            f"| {name} | {mib0} | {mib1} | {growth} | {f['fds_idle_before']} "
            f"({f['other_fds_idle_before']}) | {f['fds_end']} | {f['fds_idle_after']} "
            f"({f['other_fds_idle_after']}) |"
        )
    print(
        f"\nerrors: {result['errors']}; async calls: {result['async_states']}; idle fds back within "
        f"{result['idle_fds_settled_in']}s after the load; (other) = open fds that are not established "
        f"connections"
    )
    print("\n| target | value | limit | |\n|---|---|---|---|")
    for name, target in result["targets"].items():
        print(f"| {name} | {target['value']} | {target['limit']} | {'ok' if target['ok'] else 'MISSED'} |")
    print(f"\n{'PASSED' if result['passed'] else 'FAILED'}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=300.0, help="soak seconds (default 300)")
    parser.add_argument("--window", type=float, default=30.0, help="reporting window, seconds (default 30)")
    parser.add_argument("--fraction", type=float, default=0.7, help="share of the maximum rate (default 0.7)")
    parser.add_argument("--async-share", type=float, default=0.2, help="share of async calls (default 0.2)")
    parser.add_argument("--burst", type=float, default=5.0, help="seconds of the maximum-rate burst")
    parser.add_argument("--concurrency", type=int, default=32, help="clients of the bursts (default 32)")
    parser.add_argument("--connections", type=int, default=192, help="clients of the soak (default 192)")
    parser.add_argument(
        "--fd-settle", type=float, default=20.0, help="seconds idle fds get to return (keep-alive expiry)"
    )
    parser.add_argument("--late-share", type=float, default=0.05, help="limit of requests sent late")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for async calls to finish")
    parser.add_argument("--p99-ratio", type=float, default=1.5, help="limit of p99 last window / first")
    parser.add_argument("--rss-growth", type=float, default=0.10, help="limit of RSS growth (default 0.10)")
    parser.add_argument(
        "--fd-slack", type=int, default=0, help="idle other fds allowed above the count before"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="pyfaas-soak-") as tmp:
        result = asyncio.run(soak(args, Path(tmp)))
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
