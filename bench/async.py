"""Async invocation benchmark: gateway → JetStream → one worker (``max_inflight`` 50) → python-mode function.

    .venv/bin/python bench/async.py [--calls 5000] [--backlog 10000] [--probes 40] [--concurrency 64]

Everything is real and local: ``nats-server -js`` (file store in a temp dir), ``python -m pyfaas.gateway``
(local provider, one watchdog replica per function), ``python -m pyfaas.worker``. Printed, in one run:

1. submissions/s: ``POST /async-function/hello`` answered 202 (each stored in JetStream before the answer);
2. completions/s: worker started on the stored calls, until its processed counter reaches ``--calls``;
3. the same handler called synchronously through the gateway at the worker's concurrency (50), and the ratio
   async completions / sync calls;
4. fairness: ``--backlog`` calls queued for ``hello``, then ``--probes`` calls to ``other`` spaced 50 ms
   apart while the backlog drains; queue wait (``startedAt - queuedAt`` of the call record) p50/p95 of the
   probes, beside the backlog's own queue wait, and how many backlog calls were still queued at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
HANDLER = 'def handle(event, context):\n    return {"statusCode": 200, "body": "ok"}\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def wait_until(check, limit: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except (aiohttp.ClientError, OSError):
            pass
        await asyncio.sleep(0.05)
    raise SystemExit(f"timed out after {limit}s waiting for {what}")


async def processed(session: aiohttp.ClientSession, metrics_url: str) -> float:
    async with session.get(metrics_url) as response:
        text = await response.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("pyfaas_async_processed_total{")
    )


async def submit_many(
    session: aiohttp.ClientSession, url: str, count: int, concurrency: int
) -> tuple[list[str], float]:
    ids: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def client() -> None:
        while not queue.empty():
            queue.get_nowait()
            async with session.post(url, data=b"x") as response:
                if response.status != 202:
                    raise SystemExit(f"submission answered {response.status}: {await response.text()}")
                ids.append(response.headers["X-Call-Id"])

    began = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return ids, time.monotonic() - began


async def sync_calls(session: aiohttp.ClientSession, url: str, count: int, concurrency: int) -> float:
    remaining = [count]

    async def client() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            async with session.post(url, data=b"x") as response:
                await response.read()

    began = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return count / (time.monotonic() - began)


async def queue_wait(session: aiohttp.ClientSession, gateway: str, call_id: str) -> float | None:
    async with session.get(f"{gateway}/system/async/{call_id}") as response:
        record = await response.json()
    if not record.get("startedAt"):
        return None
    started = datetime.fromisoformat(record["startedAt"].replace("Z", "+00:00"))
    queued = datetime.fromisoformat(record["queuedAt"].replace("Z", "+00:00"))
    return (started - queued).total_seconds()


async def run(args: argparse.Namespace, tmp: Path) -> None:
    nats_port, gw_port, gw_metrics, worker_metrics = free_port(), free_port(), free_port(), free_port()
    bin_dir = Path(sys.executable).parent
    processes = []
    try:
        processes.append(
            start(
                [
                    str(bin_dir / "nats-server"),
                    "-js",
                    "-a",
                    "127.0.0.1",
                    "-p",
                    str(nats_port),
                    "-sd",
                    str(tmp / "js"),
                ],
                {},
                tmp / "nats.log",
            )
        )
        nats_url = f"nats://127.0.0.1:{nats_port}"
        gateway = f"http://127.0.0.1:{gw_port}"
        processes.append(
            start(
                [sys.executable, "-m", "pyfaas.gateway"],
                {
                    "port": str(gw_port),
                    "metrics_port": str(gw_metrics),
                    "state_dir": str(tmp / "state"),
                    "nats_url": nats_url,
                    "LOG_LEVEL": "WARNING",
                },
                tmp / "gateway.log",
            )
        )
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as session:
            await wait_until(lambda: _ok(session, f"{gateway}/healthz"), 30, "the gateway")
            handler_dir = tmp / "hello"
            handler_dir.mkdir()
            (handler_dir / "handler.py").write_text(HANDLER)
            for name in ("hello", "other"):
                spec = {
                    "service": name,
                    "image": "local",
                    "envVars": {"mode": "python", "handler": str(handler_dir)},
                }
                async with session.post(f"{gateway}/system/functions", json=spec) as response:
                    assert response.status in (200, 202), await response.text()
            await wait_until(lambda: _available(session, gateway, "hello"), 60, "hello ready")
            await wait_until(lambda: _available(session, gateway, "other"), 60, "other ready")
            await wait_until(lambda: _accepts(session, gateway), 30, "the async queue")

            # 1. submissions
            ids, took = await submit_many(
                session, f"{gateway}/async-function/hello", args.calls, args.concurrency
            )
            print(
                f"submissions: {len(ids)} in {took:.2f}s = {len(ids) / took:,.0f}/s "
                "(each 202 after the JetStream ack)"
            )

            # 2. completions, worker started on the stored backlog
            worker_env = {
                "nats_url": nats_url,
                "gateway_url": gateway,
                "max_inflight": "50",
                "metrics_port": str(worker_metrics),
                "metrics_host": "127.0.0.1",
                "log_level": "WARNING",
            }
            worker = start([sys.executable, "-m", "pyfaas.worker"], worker_env, tmp / "worker.log")
            processes.append(worker)
            metrics_url = f"http://127.0.0.1:{worker_metrics}/metrics"
            await wait_until(lambda: _ok(session, metrics_url), 30, "the worker")
            began = time.monotonic()
            await wait_until(
                lambda: _reached(session, metrics_url, args.calls), 600, f"{args.calls} completions"
            )
            async_rate = args.calls / (time.monotonic() - began)
            print(f"completions: {args.calls} at {async_rate:,.0f}/s (one worker, max_inflight 50)")

            # 3. synchronous baseline at the same concurrency
            sync_rate = await sync_calls(session, f"{gateway}/function/hello", min(args.calls, 3000), 50)
            print(
                f"sync /function at 50 concurrent: {sync_rate:,.0f}/s; "
                f"async/sync = {async_rate / sync_rate:.2f}"
            )

            # 4. fairness
            stop(worker)
            backlog_ids, _ = await submit_many(
                session, f"{gateway}/async-function/hello", args.backlog, args.concurrency
            )
            worker = start([sys.executable, "-m", "pyfaas.worker"], worker_env, tmp / "worker-2.log")
            processes.append(worker)
            await wait_until(lambda: _ok(session, metrics_url), 30, "the worker again")
            probes: list[str] = []
            for _ in range(args.probes):
                async with session.post(f"{gateway}/async-function/other", data=b"p") as response:
                    probes.append(response.headers["X-Call-Id"])
                await asyncio.sleep(0.05)
            await wait_until(lambda: _all_started(session, gateway, probes), 120, "the probes")
            waits = [w for w in [await queue_wait(session, gateway, c) for c in probes] if w is not None]
            done = await processed(session, metrics_url)
            backlog_left = args.backlog + args.probes - done
            sample = backlog_ids[:: max(1, len(backlog_ids) // 200)]
            backlog_waits = [
                w for w in [await queue_wait(session, gateway, c) for c in sample] if w is not None
            ]
            probe_p50, probe_p95 = statistics.median(waits), percentile(waits, 0.95)
            backlog_p50, backlog_p95 = (
                statistics.median(backlog_waits or [0]),
                percentile(backlog_waits, 0.95),
            )
            print(
                f"fairness: probe queue wait p50 {probe_p50:.3f}s p95 {probe_p95:.3f}s ({len(waits)} probes) "
                f"while ~{max(0, backlog_left):,.0f} of {args.backlog:,} backlog calls were still queued; "
                f"started backlog calls waited p50 {backlog_p50:.1f}s p95 {backlog_p95:.1f}s"
            )
    finally:
        for process in reversed(processes):
            stop(process)


async def _ok(session: aiohttp.ClientSession, url: str) -> bool:
    async with session.get(url) as response:
        return response.status == 200


async def _available(session: aiohttp.ClientSession, gateway: str, name: str) -> bool:
    async with session.get(f"{gateway}/system/function/{name}") as response:
        return response.status == 200 and (await response.json()).get("availableReplicas", 0) >= 1


async def _accepts(session: aiohttp.ClientSession, gateway: str) -> bool:
    async with session.get(f"{gateway}/system/async/probe-ready") as response:
        return response.status == 404  # 503 until NATS is connected


async def _reached(session: aiohttp.ClientSession, metrics_url: str, count: int) -> bool:
    return await processed(session, metrics_url) >= count


async def _all_started(session: aiohttp.ClientSession, gateway: str, ids: list[str]) -> bool:
    for call_id in ids:
        if await queue_wait(session, gateway, call_id) is None:
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--backlog", type=int, default=10000)
    parser.add_argument("--probes", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=64, help="submitting clients")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pyfaas-bench-async-") as tmp:
        asyncio.run(run(args, Path(tmp)))
    print(json.dumps({"cpu_count": os.cpu_count(), "loadavg": os.getloadavg()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
