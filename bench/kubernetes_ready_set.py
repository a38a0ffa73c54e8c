"""Kubernetes provider: the ready set from the EndpointSlice watch versus one API read, side by side.

    PYTHONPATH=. .venv/bin/python bench/kubernetes_ready_set.py [--calls 2000] [--reads 200]

Runs the schema-validating test API server (tests/support/kube_api.py; a test double, not a cluster) and a
``KubernetesProvider`` in one process, then prints, in one run:

1. the cost of ``ready_replicas()`` (memory, kept current by the watch) and of one API read
   (``get_function``, what a per-request lookup would cost at the very least), and their ratio;
2. scale call → the new replica in the ready set (virtual pods, so only API + watch latency);
3. deploy → first ready replica with a real watchdog process as the pod.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyfaas.core.models import FunctionDeployment
from pyfaas.provider.base import Provider, Replica
from tests.support.kube_provider import kube_stack

SPEC = FunctionDeployment(service="fn", image="example/fn:1", envProcess="cat")


class ReadyCount:
    """The ready-set size as the provider announces it (how the gateway learns it too)."""

    def __init__(self, provider: Provider) -> None:
        self.count = 0
        self.changed = asyncio.Event()
        provider.subscribe(self._heard)

    def _heard(self, name: str, namespace: str, replicas: list[Replica]) -> None:
        self.count = len(replicas)
        self.changed.set()

    async def reach(self, count: int) -> None:
        while self.count < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), timeout=30)


async def main(calls: int, reads: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        async with kube_stack(Path(scratch), run_pods=False) as stack:
            provider = stack.provider
            ready = ReadyCount(provider)
            await provider.deploy(SPEC)
            await ready.reach(1)
            started = time.perf_counter()
            for _ in range(calls):
                await provider.ready_replicas("fn", "")
            memory = (time.perf_counter() - started) / calls
            started = time.perf_counter()
            for _ in range(reads):
                await provider.get_function("fn", "")
            api = (time.perf_counter() - started) / reads
            print(f"ready_replicas (watch cache): {memory * 1e6:8.1f} us/call")
            print(f"get_function (one API read):  {api * 1e6:8.1f} us/call   ratio {api / memory:,.0f}x")
            latencies = []
            for replicas in range(2, 12):
                started = time.perf_counter()
                await provider.scale("fn", "", replicas)
                await ready.reach(replicas)
                latencies.append(time.perf_counter() - started)
            median = statistics.median(latencies) * 1e3
            print(f"scale -> replica in ready set (virtual pods): median {median:.1f} ms")
        async with kube_stack(Path(scratch) / "pods", run_pods=True) as stack:
            ready = ReadyCount(stack.provider)
            started = time.perf_counter()
            await stack.provider.deploy(SPEC)
            await ready.reach(1)
            print(f"deploy -> first ready watchdog pod: {(time.perf_counter() - started) * 1e3:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=200)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.calls, arguments.reads))
