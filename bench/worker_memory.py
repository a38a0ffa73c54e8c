"""Worker memory against completed calls: RSS of a real ``python -m pyfaas.worker`` after N completions.

    .venv/bin/python bench/worker_memory.py [--checkpoints 50000,150000] [--source DIR]

A local ``nats-server -js`` (file store in a temp dir), an in-process echo gateway (``FakeGateway`` of the
tests) and one worker process (``max_inflight`` 50, no callbacks). Calls are published straight to the work
stream (what the gateway stores; their ``queued`` records are skipped, the worker writes its own), at most
``--backlog`` ahead of the worker. The worker's RSS (``VmRSS``) is printed when it is ready and idle (0),
after ``--warmup`` completions, and at each checkpoint (the stream empty: every call acknowledged).
``--source`` runs the worker from another checkout (e.g. ``git archive <commit> runtime | tar -x -C DIR``)
for a before / after comparison on the same machine.

Also printed: the Python heap (tracemalloc) of the worker's memory of settled messages alone, filled with
100,000 entries, as the consumer's former ``OrderedDict`` of ``(function, sequence, timestamp)`` keys and as
:class:`pyfaas.worker.settled.SettledMessages`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import tracemalloc
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pyfaas.core.models import QueueRequest  # noqa: E402
from pyfaas.core.queue_layout import QueueLayout  # noqa: E402
from pyfaas.worker.jetstream import ensure_layout  # noqa: E402
from pyfaas.worker.settled import SettledMessages  # noqa: E402
from tests.support.async_calls import FakeGateway  # noqa: E402
from tests.support.nats import NatsServer  # noqa: E402
from tests.support.worker_process import WorkerProcess  # noqa: E402

NAMESPACE = "openfaas-fn"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def structure_sizes(entries: int = 100_000) -> tuple[float, float]:
    """Bytes per entry of the former OrderedDict memory and of SettledMessages, both holding ``entries``."""
    start = datetime(2026, 11, 27, tzinfo=UTC)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    old: OrderedDict[tuple[str, int, datetime], None] = OrderedDict()
    for seq in range(1, entries + 1):
        # as the consumer built it: a fresh f-string per key, the metadata's datetime and int
        old[(f"echo.{NAMESPACE}", seq + 1_000_000, start + timedelta(microseconds=seq))] = None
    old_bytes = tracemalloc.get_traced_memory()[0] - base
    del old
    base = tracemalloc.get_traced_memory()[0]
    new = SettledMessages(entries)
    for seq in range(1, entries + 1):
        new.add(seq + 1_000_000, 1_795_000_000_000_000_000 + seq * 1000)
    new_bytes = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return old_bytes / entries, new_bytes / entries


async def measure(args: argparse.Namespace, tmp: Path) -> None:
    server = NatsServer(tmp / "nats-store")
    (tmp / "nats-store").mkdir()
    server.start()
    gateway = FakeGateway()
    worker = WorkerProcess(
        {
            "nats_url": server.url,
            "gateway_url": await gateway.start(),
            "max_inflight": "50",
            "metrics_port": "-1",
            "log_level": "WARNING",
        },
        tmp,
        cwd=args.source,
    )
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        layout = QueueLayout()
        await ensure_layout(js, layout)
        subject = layout.call_subject("echo", NAMESPACE)
        worker.start()
        assert worker.process is not None
        pid = worker.process.pid
        await asyncio.sleep(3.0)  # started, connected, idle
        print(f"worker from {args.source}")
        print(f"{'completions':>12} {'RSS MiB':>9} {'vs warm':>9} {'calls/s':>8}")
        print(f"{0:>12} {rss_mib(pid):>9.1f}")
        published = 0
        warm_rss = 0.0

        async def publish_until(total: int) -> None:
            nonlocal published
            began, done_before = time.monotonic(), published
            while True:
                info = await js.stream_info(layout.calls_stream)
                pending = info.state.messages
                if published >= total and pending == 0:
                    break
                room = min(args.backlog - pending, total - published)
                if room > 0:
                    batch = []
                    for i in range(published, published + room):
                        call_id = f"mem-{i}"
                        request = QueueRequest(
                            Header={"X-Call-Id": [call_id]}, Body=b"x" * 64, Method="POST", Function="echo"
                        )
                        payload = json.dumps(request.wire()).encode()
                        batch.append(js.publish(subject, payload, headers={"Nats-Msg-Id": call_id}))
                    for start in range(0, len(batch), 500):
                        await asyncio.gather(*batch[start : start + 500])
                    published += room
                else:
                    await asyncio.sleep(0.2)
                if worker.process is not None and worker.process.poll() is not None:
                    raise RuntimeError(f"worker exited\n{worker.logs()}")
            await asyncio.sleep(1.0)  # last acks and record writes settle
            rate = (published - done_before) / (time.monotonic() - began)
            rss = rss_mib(pid)
            growth = f"{100 * (rss - warm_rss) / warm_rss:+8.1f}%" if warm_rss else ""
            print(f"{published:>12} {rss:>9.1f} {growth:>9} {rate:>8.0f}", flush=True)

        await publish_until(args.warmup)
        warm_rss = rss_mib(pid)
        for checkpoint in args.checkpoints:
            await publish_until(checkpoint)
        assert sum(gateway.calls.values()) >= published, "every call ran"
    finally:
        worker.kill()
        await nc.close()
        await gateway.close()
        server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoints", default="50000,150000")
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--source", type=Path, default=REPO, help="checkout the worker runs from")
    args = parser.parse_args()
    args.checkpoints = [int(value) for value in args.checkpoints.split(",")]
    old, new = structure_sizes()
    print(f"100,000 settled messages: OrderedDict {old:.0f} B/entry, SettledMessages {new:.0f} B/entry")
    with tempfile.TemporaryDirectory(prefix="pyfaas-worker-memory-") as tmp:
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main()
