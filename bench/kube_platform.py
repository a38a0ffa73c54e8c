"""The platform inside the cluster beside local mode, in one run: sync throughput and latency through the
in-cluster gateway, async completions per second through the in-cluster NATS and queue worker, and the time
from ``pyfaas build`` of a small function to its first 200 through that gateway.

    PYFAAS_TEST_KUBECONFIG=/tmp/kdev/kubeconfig .venv/bin/python bench/kube_platform.py [--rounds 2]

The platform is deployed as the test suite deploys it (:mod:`tests.support.kube_platform`: the Pulumi
program's objects, server-side applied, with images ``pyfaas build`` makes from this checkout; the Service
name resolver of :mod:`tests.support.kube_dns` on the pod bridge). The function is a python3-http
``hello`` (``pyfaas build --tar`` on the suite's bookworm base, imported, ``POST /system/functions``), one
pod. Local mode: ``python -m pyfaas.gateway`` on loopback with the same handler in one python-mode watchdog
replica. ``wrk --latency`` at ``--connections`` for ``--duration`` s, rounds interleaved between the two;
the in-cluster gateway is called on its ClusterIP from the host (kube-proxy's rules). Async: ``--calls``
calls to ``/async-function/hello`` (``--connections`` submitters), each with a callback to a receiver on
the pod bridge; completions/s = calls / (first submission -> last callback).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pyfaas.build.oci import build_image, write_layout  # noqa: E402
from tests.support.async_calls import CallbackReceiver  # noqa: E402
from tests.support.gateway import GatewayProcess  # noqa: E402
from tests.support.kube_cluster import KubeCluster  # noqa: E402
from tests.support.kube_dns import service_dns  # noqa: E402
from tests.support.kube_image import import_archive, python_base_layer  # noqa: E402
from tests.support.kube_live import admin_client  # noqa: E402
from tests.support.kube_platform import build_platform_images, deployed_platform  # noqa: E402
from tests.support.providers import write_handler  # noqa: E402

HANDLER = 'def handle(event, context):\n    return {"statusCode": 200, "body": "Hello from OpenFaaS!"}\n'
STACK = "version: 1.0\nprovider: {{name: openfaas}}\nfunctions:\n  hello:\n    lang: python3-http\n" \
    "    handler: ./hello\n    image: {image}\n"  # fmt: skip


def wrk(url: str, connections: int, duration: int) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms); any failed request aborts the run."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    if re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output) or "Socket errors" in output:
        raise RuntimeError(f"{url}: failed requests\n{output}")

    def latency(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)$", output, re.M).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    return rps, latency("50"), latency("99")


async def available(http: httpx.AsyncClient, name: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        answer = await http.get(f"/system/function/{name}")
        if answer.status_code == 200 and answer.json().get("availableReplicas", 0) >= 1:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{name} not available in 180 s")


def pyfaas_build(project: Path, base: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "pyfaas.cli", "build", "--base", str(base), "--tar", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    [built] = json.loads(done.stdout)
    return Path(built["layout"]).parent / "hello.tar"


async def async_rate(
    http: httpx.AsyncClient, callbacks: CallbackReceiver, calls: int, submitters: int
) -> float:
    pending = list(range(calls))
    ids: list[str] = []

    async def submit() -> None:
        while pending:
            pending.pop()
            answer = await http.post(
                "/async-function/hello", content=b"x", headers={"X-Callback-Url": callbacks.url}
            )
            assert answer.status_code == 202, answer.text
            ids.append(answer.headers["X-Call-Id"])

    started = time.perf_counter()
    await asyncio.gather(*(submit() for _ in range(submitters)))
    deadline = time.monotonic() + 300
    while not all(callbacks.delivered(i) for i in ids):
        assert time.monotonic() < deadline, "callbacks missing after 300 s"
        await asyncio.sleep(0.02)
    return calls / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=1000, help="async calls")
    args = parser.parse_args()
    kubeconfig = os.environ.get("PYFAAS_TEST_KUBECONFIG")
    if not kubeconfig or shutil.which("wrk") is None:
        sys.exit("needs PYFAAS_TEST_KUBECONFIG (a kit cluster) and wrk")
    kube = KubeCluster.existing(Path(kubeconfig))
    assert kube.containerd_address and kube.pod_gateway, "a kit cluster (kit.env beside the kubeconfig)"
    scratch = Path(tempfile.mkdtemp(prefix="kube-platform-bench-"))
    began = time.perf_counter()
    images = build_platform_images(kube, tag="bench")
    print(f"platform images built and imported in {time.perf_counter() - began:.1f} s", flush=True)
    project = scratch / "project"
    (project / "hello").mkdir(parents=True)
    (project / "hello" / "handler.py").write_text(HANDLER)
    (project / "hello" / "requirements.txt").write_text("")
    image = f"localhost/pyfaas-bench/hello:{os.getpid()}"
    (project / "stack.yml").write_text(STACK.format(image=image))
    base = scratch / "base"
    write_layout(build_image(None, [python_base_layer()]), base, "localhost/pyfaas-bench/base:1")
    results: dict[str, list[tuple[float, float, float]]] = {"cluster": [], "local": []}
    local = GatewayProcess(scratch / "gw-local", env={"provider": "local"})
    callbacks = CallbackReceiver(host=kube.pod_gateway)
    with service_dns(kube.kubeconfig, kube.pod_gateway):
        async with (
            admin_client(kube.kubeconfig) as admin,
            deployed_platform(admin, kube, images, prefix="e-bench") as platform,
        ):
            print(f"platform ready {platform.timings['ready']:.1f} s after the apply began", flush=True)
            async with httpx.AsyncClient(
                base_url=platform.gateway_url, auth=platform.auth, timeout=120, trust_env=False
            ) as http:
                started = time.perf_counter()
                import_archive(kube.containerd_address, pyfaas_build(project, base))
                answer = await http.post("/system/functions", json={"service": "hello", "image": image})
                assert answer.status_code == 202, answer.text
                await available(http, "hello")
                assert (await http.post("/function/hello", content=b"x")).status_code == 200
                first_200 = time.perf_counter() - started
                print(
                    f"pyfaas build -> first 200 through the in-cluster gateway: {first_200:.1f} s", flush=True
                )

                await local.start()
                handler = write_handler(scratch / "handler", HANDLER)
                spec = {
                    "service": "hello",
                    "image": "local",
                    "envVars": {"mode": "python", "handler": str(handler)},
                }
                async with httpx.AsyncClient(base_url=local.url, timeout=120) as local_http:
                    assert (await local_http.post("/system/functions", json=spec)).status_code == 202
                    await available(local_http, "hello")
                urls = {
                    "cluster": f"{platform.gateway_url}/function/hello",
                    "local": f"{local.url}/function/hello",
                }
                for url in urls.values():
                    wrk(url, 4, 1)  # warm up
                for _ in range(args.rounds):
                    for mode, url in urls.items():
                        results[mode].append(wrk(url, args.connections, args.duration))
                        print(f"{mode}: {results[mode][-1]}", flush=True)
                await local.stop()

                await callbacks.start()
                try:
                    rate = await async_rate(http, callbacks, args.calls, args.connections)
                finally:
                    await callbacks.close()
    shutil.rmtree(scratch, ignore_errors=True)

    load = os.getloadavg()[0]
    print(f"\nkube_platform bench: wrk -c{args.connections} -d{args.duration}s --latency "
          f"x {args.rounds} rounds (medians); {args.calls} async calls; load average {load:.1f}")  # fmt: skip
    print("| gateway | req/s | p50 | p99 |")
    print("|---|---|---|---|")
    for mode, runs in results.items():
        rps, p50, p99 = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"| {mode} | {rps:,.0f} | {p50:.1f} ms | {p99:.1f} ms |")
    print(f"async completions/s in the cluster (callbacks received): {rate:,.0f}")
    print(f"pyfaas build -> first 200 through the in-cluster gateway: {first_200:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
