"""Cold start of the local provider: scale a python-mode function from 0 to 1 and time the first response.

Three providers run side by side in one process: one forking replicas from a warm zygote inside the
function's bubblewrap sandbox (``sandbox``, what the gateway runs), one from the shared unsandboxed zygote and
one starting ``python -m pyfaas.watchdog`` per replica; samples alternate between them so that all see the
same load on this shared machine. Each sample: scale to 0 and wait until the replica has exited, then time
``scale(1)`` → ready notification → first HTTP response.

    .venv/bin/python bench/cold_start.py [--samples 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from pyfaas.core.models import FunctionDeployment
from pyfaas.core.replica_key import REPLICA_KEY_HEADER
from pyfaas.provider.base import Replica
from pyfaas.provider.local import LocalProvider, LocalProviderConfig

NS = "openfaas-fn"
HANDLER = 'def handle(event, context):\n    return {"statusCode": 200, "body": "warm"}\n'


class Subject:
    def __init__(self, label: str, provider: LocalProvider) -> None:
        self.label = label
        self.provider = provider
        self.ready = asyncio.Event()
        self.replicas: list[Replica] = []
        self.samples: list[float] = []
        self.to_ready: list[float] = []
        self.second: list[float] = []
        provider.subscribe(self._changed)

    def _changed(self, name: str, namespace: str, replicas: list[Replica]) -> None:
        self.replicas = replicas
        if replicas:
            self.ready.set()

    async def sample(self, client: httpx.AsyncClient) -> None:
        await self.provider.scale("hello", NS, 0)
        # wait until the old replica has exited
        while self.provider.runtime_status("hello", NS).replicas:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        self.ready.clear()
        started = time.perf_counter()
        await self.provider.scale("hello", NS, 1)
        await asyncio.wait_for(self.ready.wait(), 30)
        ready_at = time.perf_counter()
        replica = self.replicas[0]
        # as the gateway calls a replica: with its key (the watchdog refuses any other caller)
        headers = {REPLICA_KEY_HEADER: replica.key} if replica.key else {}
        response = await client.get(replica.url + "/", headers=headers)
        done = time.perf_counter()
        assert response.status_code == 200 and response.text == "warm", response.text
        self.samples.append(done - started)
        self.to_ready.append(ready_at - started)
        again = time.perf_counter()
        await client.get(replica.url + "/", headers=headers)
        self.second.append(time.perf_counter() - again)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def main(samples: int) -> None:
    with tempfile.TemporaryDirectory(prefix="pyfaas-cold-") as tmp:
        root = Path(tmp)
        handler = root / "hello"
        handler.mkdir()
        (handler / "handler.py").write_text(HANDLER)
        spec = FunctionDeployment(
            service="hello",
            image="local",
            # no grace after SIGTERM: nothing routes to the replica once it is scaled away
            envVars={"mode": "python", "handler": str(handler), "healthcheck_interval": "0s"},
        )
        subjects: list[Subject] = []
        # sandbox: a zygote per function inside bubblewrap (what the gateway runs)
        kinds = (("sandbox", True, True), ("zygote", False, True), ("subprocess", False, False))
        for label, isolated, use_zygote in kinds:
            config = LocalProviderConfig(state_dir=root / label, sandbox=isolated, use_zygote=use_zygote)
            provider = LocalProvider(config)
            await provider.start()
            if provider.spawner_kind != label:
                raise SystemExit(f"{label}: provider uses {provider.spawner_kind} (zygote failed to start?)")
            await provider.deploy(spec)
            await provider.wait_for_replicas("hello", NS)
            subjects.append(Subject(label, provider))
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                for _ in range(samples):
                    for subject in subjects:
                        await subject.sample(client)
        finally:
            for subject in subjects:
                await subject.provider.close()

    print(f"cold start, python mode, scale 0 -> 1 -> first response ({samples} samples each, interleaved)")
    print(
        f"{'spawner':<11} {'p50 ms':>8} {'p95 ms':>8} {'min ms':>8} {'max ms':>8} {'ready p50':>10} "
        f"{'1st req p50':>12} {'2nd req p50':>12}"
    )
    for subject in subjects:
        ms = [s * 1000 for s in subject.samples]
        first_request = [a - b for a, b in zip(subject.samples, subject.to_ready, strict=True)]
        print(
            f"{subject.label:<11} {statistics.median(ms):8.1f} {percentile(ms, 0.95):8.1f} {min(ms):8.1f} "
            f"{max(ms):8.1f} {statistics.median(subject.to_ready) * 1000:10.1f} "
            f"{statistics.median(first_request) * 1000:12.1f} "
            f"{statistics.median(subject.second) * 1000:12.1f}"
        )
    sandbox, zygote, plain = subjects
    ratio = statistics.median(plain.samples) / statistics.median(zygote.samples)
    print(f"subprocess/zygote p50 ratio: {ratio:.2f}x")
    ratio = statistics.median(sandbox.samples) / statistics.median(zygote.samples)
    print(f"sandbox/zygote p50 ratio: {ratio:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=20)
    asyncio.run(main(parser.parse_args().samples))
