"""``pyfaas build``/``push`` timings; a small function from ``pyfaas build`` to its first 200 in the cluster.

    .venv/bin/python bench/build.py [--base PATH] [--samples 3]
    PYFAAS_TEST_KUBECONFIG=/tmp/kdev/kubeconfig .venv/bin/python bench/build.py   # + the cluster step

Each sample is a fresh project (a python3-http ``hello`` whose body carries the sample number, so every
image is new) built by the real CLI (``python -m pyfaas.cli build``) on a Debian bookworm base (``--base``,
else the test suite's cached debootstrap layer). Timed per sample: the build into an empty output folder;
the same build again (the digest must not change); ``pyfaas push`` to Debian's ``docker-registry`` on
loopback, then again (nothing left to send). With a kit cluster (``kit.env`` beside the kubeconfig): from
the start of ``pyfaas build --tar`` to the first 200 from the function's pod, i.e. build, ``ctr images
import``, the Deployment pyfaas writes for it (``pyfaas.core.k8s.function_deployment``) created and its pod
ready, and the first call answered.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pyfaas.build.oci import build_image, write_layout  # noqa: E402

HANDLER = 'def handle(event, context):\n    return {"statusCode": 200, "body": "hello %d"}\n'


def _base(path: str, scratch: Path) -> str:
    if path:
        return path
    from tests.support.kube_image import python_base_layer

    layout = scratch / "base"
    write_layout(build_image(None, [python_base_layer()]), layout, "localhost/bench-base:1")
    return str(layout)


def _project(root: Path, image: str, sample: int) -> Path:
    (root / "hello").mkdir(parents=True)
    (root / "hello" / "handler.py").write_text(HANDLER % sample)
    (root / "hello" / "requirements.txt").write_text("")
    (root / "stack.yml").write_text(
        "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"
        f"  hello:\n    lang: python3-http\n    handler: ./hello\n    image: {image}\n"
    )
    return root


def _cli(args: list[str], cwd: Path) -> tuple[float, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pyfaas.cli", *args, "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"pyfaas {' '.join(args)} failed: {done.stderr}")
    return elapsed, json.loads(done.stdout)


def _registry(scratch: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = scratch / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {scratch / 'data'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1)
            return process, f"127.0.0.1:{port}"
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("docker-registry did not start")


def _first_200(project: Path, image: str, kubeconfig: Path, containerd: str) -> dict[str, float]:
    from lightkube import Client, KubeConfig
    from lightkube.resources.apps_v1 import Deployment
    from lightkube.resources.core_v1 import Namespace, Pod

    from pyfaas.core.k8s import FunctionWorkloadOptions, function_deployment
    from pyfaas.core.models import FunctionDeployment

    api = Client(KubeConfig.from_file(kubeconfig), field_manager="pyfaas-bench", trust_env=False)
    namespace = f"bench-build-{uuid.uuid4().hex[:6]}"
    api.create(Namespace.from_dict({"metadata": {"name": namespace}}))
    try:
        started = time.perf_counter()
        build_s, [built] = _cli(["build", "--base", os.environ["BENCH_BASE"], "--tar"], project)
        archive = Path(built["layout"]).parent / "hello.tar"
        subprocess.run(
            ["ctr", "--address", containerd, "-n", "k8s.io", "images", "import", str(archive)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        imported = time.perf_counter()
        options = FunctionWorkloadOptions(
            image_pull_policy="IfNotPresent", probe_initial_delay_seconds=0, probe_period_seconds=1
        )
        body = function_deployment(
            FunctionDeployment(service="hello", image=image), namespace=namespace, options=options, replicas=1
        )
        api.create(Deployment.from_dict(body))
        ip = ""
        while not ip:
            for pod in api.list(Pod, namespace=namespace):
                status = pod.status
                if (
                    status
                    and status.podIP
                    and any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])
                ):
                    ip = status.podIP
            time.sleep(0.1)
        ready = time.perf_counter()
        while True:
            try:
                if httpx.post(f"http://{ip}:8080/", content=b"x", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        answered = time.perf_counter()
        return {
            "build": build_s,
            "import": imported - started - build_s,
            "pod ready": ready - imported,
            "first call": answered - ready,
            "total": answered - started,
        }
    finally:
        api.delete(Namespace, namespace)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="", help="base image (OCI layout/archive); default: the suite's")
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-build-") as scratch_name:
        scratch = Path(scratch_name)
        os.environ["BENCH_BASE"] = _base(args.base, scratch)
        registry, host = _registry(scratch)
        try:
            for sample in range(args.samples):
                project = _project(scratch / f"p{sample}", f"{host}/bench/hello:{sample}", sample)
                cold, [first] = _cli(["build", "--base", os.environ["BENCH_BASE"]], project)
                warm, [second] = _cli(["build", "--base", os.environ["BENCH_BASE"]], project)
                if first["digest"] != second["digest"]:  # a source file of pyfaas changed in between
                    print(f"sample {sample}: the second build gave another digest", file=sys.stderr)
                push, _ = _cli(["push"], project)
                again, _ = _cli(["push"], project)
                for key, value in (
                    ("build", cold),
                    ("build again", warm),
                    ("push", push),
                    ("push again", again),
                ):
                    rows.setdefault(key, []).append(value)
                shutil.rmtree(project / "build")
        finally:
            registry.terminate()
            registry.wait(10)
        kubeconfig = os.environ.get("PYFAAS_TEST_KUBECONFIG")
        kit = Path(kubeconfig).parent / "kit.env" if kubeconfig else None
        if kubeconfig and kit and kit.is_file():
            settings = dict(line.split("=", 1) for line in kit.read_text().splitlines() if "=" in line)
            for sample in range(args.samples):
                image = f"localhost/bench-build/hello:{uuid.uuid4().hex[:8]}"
                project = _project(scratch / f"k{sample}", image, 1000 + sample)
                timings = _first_200(project, image, Path(kubeconfig), settings["CONTAINERD_ADDRESS"])
                for key, value in timings.items():
                    rows.setdefault(f"build -> first 200: {key}", []).append(value)
    print(f"| step (s, {args.samples} samples) | median | min | max |")
    print("|---|---|---|---|")
    for key, values in rows.items():
        print(f"| {key} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
