"""Kubernetes beside local mode in one run: cold start from zero and sync throughput through the gateway.

    PYFAAS_TEST_KUBECONFIG=/tmp/kdev/kubeconfig .venv/bin/python bench/kube_gateway.py [--samples 12]
    PYFAAS_KUBE_ASSETS=../shared/kube/bin .venv/bin/python bench/kube_gateway.py  # throwaway cluster (root)

Two gateway processes (``python -m pyfaas.gateway``) run on the host: one with ``provider=kubernetes`` against
the cluster (readiness probes every 1 s, no initial delay), one in local mode. Each serves the same
python3-http handler (``Hello from OpenFaaS!``): on Kubernetes from an image built from
``templates/python3-http`` and imported into containerd (``tests/support/kube_image.py``), locally as a
python-mode watchdog replica.

Cold start, per sample and mode, alternating: scale to 0 and wait until no pod (or replica process) is left,
then time ``POST /system/scale-function`` (1 replica) -> ``POST /function/hello`` answered 200 (the gateway
holds the call until a replica is ready). Throughput: the function at 1 and then 3 replicas, ``wrk`` at
``--connections`` for ``--duration`` seconds on each gateway, ``--rounds`` interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lightkube.models.meta_v1 import ObjectMeta  # noqa: E402
from lightkube.resources.core_v1 import Namespace, Pod  # noqa: E402

from tests.support.gateway import GatewayProcess  # noqa: E402
from tests.support.kube_assets import resolve_assets  # noqa: E402
from tests.support.kube_cluster import KubeCluster, ThrowawayCluster  # noqa: E402
from tests.support.kube_image import function_image, import_archive  # noqa: E402
from tests.support.kube_live import admin_client  # noqa: E402
from tests.support.providers import write_handler  # noqa: E402

HANDLER = 'def handle(event, context):\n    return {"statusCode": 200, "body": "Hello from OpenFaaS!"}\n'
FUNCTION = "hello"
IMAGE = "localhost/pyfaas-bench/hello:1"


@asynccontextmanager
async def cluster() -> AsyncIterator[KubeCluster]:
    existing = os.environ.get("PYFAAS_TEST_KUBECONFIG")
    if existing:
        yield KubeCluster.existing(Path(existing))
        return
    assets = os.environ.get("PYFAAS_KUBE_ASSETS")
    if not assets:
        sys.exit("set PYFAAS_TEST_KUBECONFIG (a kit cluster) or PYFAAS_KUBE_ASSETS (throwaway, as root)")
    owned = ThrowawayCluster(resolve_assets(REPO / assets))
    try:
        running = owned.start()
        print(f"throwaway cluster up in {running.startup_seconds:.1f} s", flush=True)
        yield running
    finally:
        owned.stop()
        left = owned.leftovers() or "nothing"
        print(f"throwaway cluster down in {owned.timings.get('teardown')} s; left behind: {left}")


class Gateway:
    def __init__(self, label: str, process: GatewayProcess, http: aiohttp.ClientSession) -> None:
        self.label, self.process, self.http = label, process, http
        self.cold: list[float] = []
        self.throughput: dict[int, list[float]] = {1: [], 3: []}

    async def status(self) -> dict[str, Any]:
        async with self.http.get(f"/system/function/{FUNCTION}") as response:
            assert response.status == 200, await response.text()
            found: dict[str, Any] = await response.json()
            return found

    async def scale(self, replicas: int) -> None:
        body = {"serviceName": FUNCTION, "replicas": replicas}
        async with self.http.post(f"/system/scale-function/{FUNCTION}", json=body) as response:
            assert response.status in (200, 202), await response.text()

    async def available(self, count: int) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = await self.status()
            if (found.get("replicas", 0), found.get("availableReplicas", 0)) == (count, count):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.label}: {count} replicas not available in 120 s")

    async def call(self) -> None:
        async with self.http.post(f"/function/{FUNCTION}", data=b"x") as response:
            assert response.status == 200, await response.text()


async def wait_no_pods(kubeconfig: Path, namespace: str) -> None:
    async with admin_client(kubeconfig) as client:
        while [p async for p in client.list(Pod, namespace=namespace)]:  # noqa: ASYNC110 (polling the API)
            await asyncio.sleep(0.05)


def wrk(url: str, connections: int, duration: int) -> float:
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if failed or "Socket errors" in output:
        raise RuntimeError(f"{url}: failed requests\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=12, help="cold starts per mode (>= 10)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian package wrk)")

    scratch = Path(tempfile.mkdtemp(prefix="kube-bench-"))
    async with cluster() as kube:
        if kube.containerd_address is None:
            sys.exit("cannot import images into this cluster (no kit.env beside the kubeconfig)")
        began = time.monotonic()
        function_image(IMAGE, scratch / "hello.tar", handler=HANDLER)
        built = time.monotonic() - began
        import_archive(kube.containerd_address, scratch / "hello.tar")
        print(
            f"image built in {built:.1f} s, imported in {time.monotonic() - began - built:.1f} s", flush=True
        )

        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        async with admin_client(kube.kubeconfig) as admin:
            await admin.create(Namespace(metadata=ObjectMeta(name=namespace, labels={"openfaas": "1"})))
        kube_env = {
            "provider": "kubernetes",
            "KUBECONFIG": str(kube.kubeconfig),
            "function_namespace": namespace,
            "image_pull_policy": "IfNotPresent",
            "readiness_probe_initial_delay_seconds": "0",
            "readiness_probe_period_seconds": "1",
        }
        processes = {
            "kubernetes": GatewayProcess(scratch / "gw-kube", env=kube_env),
            "local": GatewayProcess(scratch / "gw-local", env={"provider": "local"}),
        }
        handler = write_handler(scratch / "handler", HANDLER)
        specs = {
            "kubernetes": {"service": FUNCTION, "image": IMAGE, "envVars": {"healthcheck_interval": "1s"}},
            "local": {
                "service": FUNCTION,
                "image": "local",
                "envVars": {"mode": "python", "handler": str(handler)},
            },
        }
        gateways: list[Gateway] = []
        try:
            for label, process in processes.items():
                await process.start()
                http = aiohttp.ClientSession(base_url=process.url, timeout=aiohttp.ClientTimeout(total=120))
                gateway = Gateway(label, process, http)
                gateways.append(gateway)
                async with http.post("/system/functions", json=specs[label]) as response:
                    assert response.status == 202, await response.text()
                await gateway.available(1)
                await gateway.call()

            for _ in range(args.samples):
                for gateway in gateways:
                    await gateway.scale(0)
                    await gateway.available(0)
                    if gateway.label == "kubernetes":  # a terminating pod still shows for a moment
                        await wait_no_pods(kube.kubeconfig, namespace)
                    start = time.perf_counter()
                    await gateway.scale(1)
                    await gateway.call()
                    gateway.cold.append(time.perf_counter() - start)
                    print(f"{gateway.label} cold start {gateway.cold[-1]:.2f} s", flush=True)

            for replicas in (1, 3):
                for gateway in gateways:
                    await gateway.scale(replicas)
                    await gateway.available(replicas)
                    wrk(f"{gateway.process.url}/function/{FUNCTION}", 4, 1)  # warm up
                for _ in range(args.rounds):
                    for gateway in gateways:
                        url = f"{gateway.process.url}/function/{FUNCTION}"
                        gateway.throughput[replicas].append(wrk(url, args.connections, args.duration))
        finally:
            for gateway in gateways:
                await gateway.http.close()
            for process in processes.values():
                await process.stop()
            async with admin_client(kube.kubeconfig) as admin:
                await admin.delete(Namespace, namespace)
        shutil.rmtree(scratch, ignore_errors=True)  # kept (gateway logs) when the run failed

    load = os.getloadavg()[0]
    print(f"\nkube_gateway bench: {args.samples} cold starts per mode; wrk -c{args.connections} "
          f"-d{args.duration}s x {args.rounds} rounds; load average {load:.1f}")  # fmt: skip
    print("| mode | cold start p50 | p95 | max | req/s, 1 replica | req/s, 3 replicas | 3 vs 1 |")
    print("|---|---|---|---|---|---|---|")
    for gateway in gateways:
        one, three = statistics.median(gateway.throughput[1]), statistics.median(gateway.throughput[3])
        p50, p95 = percentile(gateway.cold, 0.5), percentile(gateway.cold, 0.95)
        print(
            f"| {gateway.label} | {p50:.2f} s | {p95:.2f} s | {max(gateway.cold):.2f} s "
            f"| {one:,.0f} | {three:,.0f} | {three / one:.2f} |"
        )
    for gateway in gateways:
        print(f"{gateway.label} cold starts (s): {' '.join(f'{c:.2f}' for c in gateway.cold)}")


if __name__ == "__main__":
    asyncio.run(main())
