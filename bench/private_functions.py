"""Private functions: c50 req/s of a private function called with its API key (and with a token) vs the same
function public, one gateway, same run (``wrk``).

    .venv/bin/python bench/private_functions.py [--rounds 5] [--duration 3] [--connections 50]

One ``python -m pyfaas.gateway`` (local provider, each function in its sandbox) serves two copies of one
python-mode function, ``open`` (public) and ``locked`` (annotation ``com.pyfaas.private: "true"``). wrk loads
them alternately; each round runs public, key, token in a rotating order so that a change in the machine's
load hits all three alike. Printed: per-round req/s, the medians, and the private/public ratios (target
≥ 0.9), plus the gateway's CPU time per request of each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gateway as bench  # bench/gateway.py: the shared helpers

REPO = bench.REPO


def wrk(url: str, connections: int, duration: int, pid: int, headers: list[str]) -> tuple[float, float]:
    """req/s and the gateway's CPU µs per request."""
    before = bench.cpu_seconds([pid])
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s"]
    for header in headers:
        argv += ["-H", header]
    output = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    if errors := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        raise RuntimeError(f"{url}: {errors.group(1)} failed responses\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return rps, (bench.cpu_seconds([pid]) - before) / max(requests, 1) * 1e6


def wait_available(port: int, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = bench.request("GET", port, f"/system/function/{name}")
        if status == 200 and json.loads(body).get("availableReplicas", 0) >= 1:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{name} has no available replica after {timeout}s")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="pyfaas-bench-private-"))
    handler = work / "function"
    handler.mkdir()
    (handler / "handler.py").write_text(bench.HANDLER)
    port, metrics_port = bench.free_port(), bench.free_port()
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONPATH": str(REPO),
        "HOME": str(work),
        "port": str(port),
        "metrics_port": str(metrics_port),
        "bind_address": "127.0.0.1",
        "state_dir": str(work / "state"),
        "LOG_LEVEL": "WARNING",
    }
    gateway = bench.start([sys.executable, "-m", "pyfaas.gateway"], env, work / "gateway.log")
    try:
        bench.wait_http(f"http://127.0.0.1:{port}/healthz")
        for name, notes in (("open", {}), ("locked", {"com.pyfaas.private": "true"})):
            spec = {
                "service": name,
                "image": "local",
                "envVars": {"mode": "python", "handler": str(handler)},
                "annotations": notes,
            }
            status, body = bench.request("POST", port, "/system/functions", spec)
            if status != 202:
                raise RuntimeError(f"deploy {name}: {status} {body!r}")
        for name in ("open", "locked"):
            wait_available(port, name)
        status, body = bench.request("POST", port, "/system/function-keys/locked", {"label": "bench"})
        key = json.loads(body)["key"]
        status, body = bench.request("POST", port, "/system/function-tokens/locked", {"ttl": 3600})
        token = json.loads(body)["token"]
        base = f"http://127.0.0.1:{port}/function/"
        kinds = {
            "public": (base + "open", []),
            "private, API key": (base + "locked", [f"Authorization: Bearer {key}"]),
            "private, JWT": (base + "locked", [f"Authorization: Bearer {token}"]),
        }
        for url, headers in kinds.values():  # warm-up, and proof that each answers 2xx
            wrk(url, 4, 1, gateway.pid, headers)
        rps: dict[str, list[float]] = {k: [] for k in kinds}
        cpu: dict[str, list[float]] = {k: [] for k in kinds}
        order = list(kinds)
        for index in range(args.rounds):
            for kind in order[index % 3 :] + order[: index % 3]:
                url, headers = kinds[kind]
                r, c = wrk(url, args.connections, args.duration, gateway.pid, headers)
                rps[kind].append(r)
                cpu[kind].append(c)
    finally:
        bench.stop(gateway)
    print(
        f"private functions: wrk -c{args.connections}, {args.rounds} rounds of {args.duration}s, "
        f"load {load_at_start:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    public = statistics.median(rps["public"])
    for kind in kinds:
        rounds = " ".join(f"{v:.0f}" for v in rps[kind])
        median = statistics.median(rps[kind])
        print(
            f"{kind:<18} req/s median {median:7.0f} ({rounds})  x{median / public:.2f} of public  "
            f"gateway CPU {statistics.median(cpu[kind]):.0f} us/req"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
