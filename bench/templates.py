"""Per-template benchmark through the gateway: c50 req/s and cold start, one function per language.

    .venv/bin/python bench/templates.py [--duration 5] [--cold-samples 10] [--langs python3-http,node20,...]

One ``python -m pyfaas.gateway`` (local provider). For each template, a function scaffolded with
``pyfaas new NAME --lang L`` and left as the template writes it (its hello-world handler), deployed with
``pyfaas deploy`` (local mode: built with the machine's toolchain, then one replica). Then ``wrk`` at 50
connections, POST with a 5-byte body, for ``--duration`` seconds (after a 1 s warm-up): req/s, p50, p99.
Cold start: the function is scaled to zero through the API, then called through the gateway; time to the
first response, ``--cold-samples`` times (p50, p95). Needs wrk, node, go, bash.
"""

from __future__ import annotations

import argparse
import http.client
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import free_port, percentile, request, start, stop, to_ms, wait_http

REPO = Path(__file__).resolve().parents[1]
LANGS = ("python3-http", "python3", "node20", "golang-http", "bash-streaming")
MODES = {
    "python3-http": "python",
    "python3": "fork",
    "node20": "http",
    "golang-http": "http",
    "bash-streaming": "streaming",
}
POST_SCRIPT = 'wrk.method = "POST"\nwrk.body = "hello"\n'


def wait_replicas(port: int, name: str, available: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = request("GET", port, f"/system/function/{name}")
        if status == 200:
            found = json.loads(body)
            if found.get("availableReplicas", 0) == available and found.get("replicas", 0) == available:
                return
        time.sleep(0.02)
    raise TimeoutError(f"{name} did not reach {available} available replicas")


def wrk_post(url: str, connections: int, seconds: int, script: Path) -> tuple[float, float, float]:
    """req/s, p50 ms, p99 ms of ``wrk`` POSTing ``hello``; raises on any non-2xx answer."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if re.search(r"Non-2xx or 3xx responses", output):
        raise RuntimeError(f"{url}: failed answers under load\n{output}")
    socket_errors = re.search(r"Socket errors:.*", output)
    if socket_errors:
        print(f"  {url}: {socket_errors.group(0)}", flush=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"^\s*50%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"^\s*99%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return rps, p50, p99


def call(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", path, body=b"hello", headers={"Content-Type": "text/plain"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def pyfaas(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "pyfaas.cli", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if completed.returncode != 0:
        raise RuntimeError(f"pyfaas {' '.join(args)}: {completed.stderr}")
    return completed.stdout + completed.stderr


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per template")
    parser.add_argument("--cold-samples", type=int, default=10)
    parser.add_argument("--langs", default=",".join(LANGS))
    args = parser.parse_args()
    for tool in ("wrk", "node", "go", "bash"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 1
    langs = [lang for lang in args.langs.split(",") if lang]
    load_at_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="pyfaas-bench-templates-"))
    gateway_port = free_port()
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONPATH": str(REPO),
        "HOME": str(work / "home"),
        "OPENFAAS_URL": f"http://127.0.0.1:{gateway_port}",
    }
    script = work / "post.lua"
    script.write_text(POST_SCRIPT)
    gateway = start(
        [sys.executable, "-m", "pyfaas.gateway"],
        {
            **env,
            "port": str(gateway_port),
            "metrics_port": str(free_port()),
            "bind_address": "127.0.0.1",
            "state_dir": str(work / "state"),
            "LOG_LEVEL": "WARNING",
        },
        work / "gateway.log",
    )
    rows: list[str] = []
    try:
        wait_http(f"http://127.0.0.1:{gateway_port}/healthz")
        for lang in langs:
            name = f"bench-{lang}"
            pyfaas(["new", name, "--lang", lang, "-q"], work, env)
            started = time.perf_counter()
            pyfaas(["deploy", "--filter", name], work, env)
            wait_replicas(gateway_port, name, 1)
            deploy_s = time.perf_counter() - started
            url = f"http://127.0.0.1:{gateway_port}/function/{name}"
            wrk_post(url, 4, 1, script)  # warm-up
            rps, p50, p99 = wrk_post(url, 50, args.duration, script)
            cold: list[float] = []
            for _ in range(args.cold_samples):
                request("POST", gateway_port, f"/system/scale-function/{name}", {"replicas": 0})
                wait_replicas(gateway_port, name, 0)
                began = time.perf_counter()
                status, body = call(gateway_port, f"/function/{name}")
                cold.append((time.perf_counter() - began) * 1000)
                if status != 200:
                    raise RuntimeError(f"{name}: cold call failed: {status} {body!r}")
            row = (
                f"| {lang} | {MODES.get(lang, '?')} | {rps:,.0f} | {p50:.2f} / {p99:.2f} ms | "
                f"{statistics.median(cold):.0f} / {percentile(cold, 0.95):.0f} ms | "
                f"{deploy_s:.1f} s |"
            )
            print(row, flush=True)
            rows.append(row)
            request("DELETE", gateway_port, "/system/functions", {"functionName": name})
    finally:
        stop(gateway)
        shutil.rmtree(work, ignore_errors=True)
    load_at_end = os.getloadavg()[0]
    print(f"\nload average {load_at_start:.1f} -> {load_at_end:.1f}")
    print("| template | mode | req/s at 50 conn | p50 / p99 | cold start p50 / p95 | first deploy (build) |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
