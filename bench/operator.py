"""Operator mode on a real cluster: ``kubectl apply`` of a Function → its first 200, and reconcile throughput.

    PYFAAS_TEST_KUBECONFIG=/tmp/kdev/kubeconfig .venv/bin/python bench/operator.py [--samples 10]

``pyfaas-operator`` runs on the host (one process, no leader election wait: it is alone) watching a fresh
``op-bench-*`` namespace; the gateway runs in this process in operator mode (the provider its ``__main__``
builds for ``operator=true``). The function image is the python3-http echo image the tests build
(``tests/support/kube_image.py``), imported into the kit's containerd when it is not there yet.

1. First 200, ``--samples`` times, one new function each: ``kubectl apply`` of a Function in faas-cli
   generate's shape, then ``POST /function/<name>`` at once; the gateway holds the call until a replica is
   ready. The time from starting kubectl to the 200 covers kubectl, the operator's reconcile, scheduling, the
   container start, the readiness probe (every 1 s, no initial delay) and the gateway noticing the endpoint.
2. Reconcile throughput: ``--burst`` Functions in one ``kubectl apply``, each with ``spec.replicas: 0`` (no
   pod: this measures the operator, not the node), until every one reports ``Ready=True``
   (``ScaledToZero``); then ``--pods`` Functions with one pod each, until all are Ready.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lightkube.models.meta_v1 import ObjectMeta  # noqa: E402
from lightkube.resources.core_v1 import Namespace  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from pyfaas.gateway.__main__ import build_provider  # noqa: E402
from pyfaas.gateway.app import create_app  # noqa: E402
from pyfaas.gateway.settings import GatewaySettings  # noqa: E402
from tests.support.kube_cluster import KubeCluster  # noqa: E402
from tests.support.kube_image import function_image, import_archive  # noqa: E402
from tests.support.kube_live import ECHO_HANDLER, admin_client  # noqa: E402
from tests.support.operator_cluster import FunctionResource, install_crd  # noqa: E402
from tests.support.operator_process import kubectl, running_operator  # noqa: E402
from tests.support.providers import serve_app  # noqa: E402

IMAGE = "localhost/pyfaas-test/echo:v1"


def ensure_image(cluster: KubeCluster) -> None:
    assert cluster.containerd_address, "no containerd address (kit.env beside the kubeconfig)"
    listed = subprocess.run(
        ["ctr", "--address", cluster.containerd_address, "-n", "k8s.io", "images", "ls", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if IMAGE in listed:
        return
    with tempfile.TemporaryDirectory() as work:
        archive = Path(work) / "echo.tar"
        function_image(IMAGE, archive, handler=ECHO_HANDLER.format(version="v1"))
        import_archive(cluster.containerd_address, archive)


def manifest(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "openfaas.com/v1",
        "kind": "Function",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"name": name, "image": IMAGE, **spec},
    }


async def all_ready(client: Any, namespace: str, names: set[str], started: float, within: float) -> float:
    while True:
        ready = set()
        async for item in client.list(FunctionResource, namespace=namespace):
            body = item.to_dict()
            status = body.get("status") or {}
            if status.get("observedGeneration") != body["metadata"]["generation"]:
                continue
            for condition in status.get("conditions") or []:
                if condition["type"] == "Ready" and condition["status"] == "True":
                    ready.add(body["metadata"]["name"])
        if names <= ready:
            return time.perf_counter() - started
        if time.perf_counter() - started > within:
            raise TimeoutError(f"{len(names - ready)} of {len(names)} not Ready after {within} s")
        await asyncio.sleep(0.1)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--pods", type=int, default=20)
    args = parser.parse_args()
    kubeconfig = Path(os.environ["PYFAAS_TEST_KUBECONFIG"])
    cluster = KubeCluster.existing(kubeconfig)
    ensure_image(cluster)
    namespace = f"op-bench-{uuid.uuid4().hex[:6]}"
    async with admin_client(kubeconfig) as client:
        await install_crd(client)
        await client.create(Namespace(metadata=ObjectMeta(name=namespace)))
        try:
            with (
                tempfile.TemporaryDirectory() as logs,
                running_operator(
                    kubeconfig, namespace, Path(logs), identity="bench", leader_election="false"
                ) as operator,
            ):
                env = {
                    "provider": "kubernetes",
                    "operator": "true",
                    "KUBECONFIG": str(kubeconfig),
                    "function_namespace": namespace,
                    "scale_from_zero_timeout": "120s",
                }
                settings = GatewaySettings.from_env(env)
                app = create_app(settings, build_provider(settings, env), registry=CollectorRegistry())
                async with serve_app(app) as url, aiohttp.ClientSession(base_url=url) as http:
                    await first_200(http, kubeconfig, namespace, args.samples)
                await throughput(client, kubeconfig, namespace, args.burst, args.pods)
                assert operator.process.poll() is None, operator.log_text()[-3000:]
        finally:
            await client.delete(Namespace, namespace)


async def first_200(http: aiohttp.ClientSession, kubeconfig: Path, namespace: str, samples: int) -> None:
    times = []
    for index in range(samples):
        name = f"first-{index}"
        started = time.perf_counter()
        kubectl(kubeconfig, "apply", "-f", "-", input=yaml.safe_dump(manifest(name, namespace)))
        while True:
            async with http.post(f"/function/{name}", data=b"x") as response:
                await response.read()
                if response.status == 200:
                    break
            await asyncio.sleep(0.05)  # the gateway answered 404 before the provider listed the Function
        times.append(time.perf_counter() - started)
        print(f"  {name}: {times[-1]:.2f} s", flush=True)
    ordered = sorted(times)
    print(
        f"kubectl apply -> first 200, n={samples}: p50 {statistics.median(times):.2f} s, "
        f"min {ordered[0]:.2f} s, max {ordered[-1]:.2f} s"
    )


async def throughput(client: Any, kubeconfig: Path, namespace: str, burst: int, pods: int) -> None:
    for count, spec, label in ((burst, {"replicas": 0}, "no pod"), (pods, {}, "one pod each")):
        names = {f"{'burst' if spec else 'pods'}-{i}" for i in range(count)}
        stream = "---\n".join(yaml.safe_dump(manifest(n, namespace, **spec)) for n in sorted(names))
        started = time.perf_counter()
        kubectl(kubeconfig, "apply", "-f", "-", input=stream)
        applied = time.perf_counter() - started
        took = await all_ready(client, namespace, names, started, within=600)
        print(
            f"{count} Functions ({label}) applied at once: kubectl {applied:.1f} s, "
            f"all Ready after {took:.1f} s ({count / took:.1f} Functions/s)"
        )


if __name__ == "__main__":
    asyncio.run(main())
