"""Gateway benchmark: one python-mode function, three ways, side by side in one run (``wrk``).

    .venv/bin/python bench/gateway.py [--duration 3] [--rounds 3] [--cold-samples 20] [--skip-clients]

(a) the function's watchdog called directly; (b) the same handler through the pyfaas gateway (local provider,
its own watchdog replica); (c) the same handler under Flask + waitress (OpenFaaS's python3-http stack,
``bench/python3_http_flask.py``). Each at 1 and 50 connections; prints req/s, p50, p99, the CPU time the
serving processes used per request (read from ``/proc``; for b the gateway plus the replica, and the gateway
alone), the ratios b/a and b/c, and the gateway's overhead at 1 connection (p50 of b minus p50 of a). When
other work saturates the cores, req/s follows CPU per request, which moves less with the load. Cold start:
the function is scaled to zero and called through the gateway, time to the first response,
``--cold-samples`` times.

Unless ``--skip-clients``: the proxy client choice, measured as three minimal aiohttp proxies in front of the
watchdog of (a), forwarding with ``aiohttp.ClientSession``, ``httpx.AsyncClient`` or the gateway's own lean
client (``runtime/gateway/invocation/upstream.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HANDLER = 'def handle(event, context):\n    return {"statusCode": 200, "body": "Hello from OpenFaaS!"}\n'
FUNCTION = "hello"


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float = float("nan")
    """CPU time (user + system) of the serving processes per request, in microseconds."""
    cpu_first_us: float = float("nan")
    """The same for the first of them alone (the gateway, for b)."""


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by ``pids`` (their threads included)."""
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(method: str, port: int, path: str, body: object = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        data = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s")


def wait_replicas(port: int, available: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = request("GET", port, f"/system/function/{FUNCTION}")
        if status == 200:
            found = json.loads(body)
            if found.get("availableReplicas", 0) == available and found.get("replicas", 0) == available:
                return
        time.sleep(0.02)
    raise TimeoutError(f"{FUNCTION} did not reach {available} available replicas")


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, env=env, cwd=str(REPO), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(20)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(5)


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"cannot parse wrk latency {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, connections: int, duration: float, pids: list[int] | None = None) -> Result:
    threads = 1 if connections < 4 else 2
    cpu_before = cpu_seconds(pids) if pids else 0.0
    first_before = cpu_seconds(pids[:1]) if pids else 0.0
    output = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed responses\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"^\s*50%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"^\s*99%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    if not pids or not requests:
        return Result(rps, p50, p99)
    cpu_us = (cpu_seconds(pids) - cpu_before) / requests * 1e6
    first_us = (cpu_seconds(pids[:1]) - first_before) / requests * 1e6
    return Result(rps, p50, p99, cpu_us, first_us)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


# minimal proxies for the client comparison ---------------------------------------------------------
def serve_proxy(kind: str, port: int, upstream: str) -> None:
    """A bare aiohttp server forwarding every request to ``upstream`` with the given client library."""
    import asyncio

    import aiohttp
    import httpx
    import uvloop
    from aiohttp import web

    async def run() -> None:
        if kind == "aiohttp":
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )

            async def handle(request: web.Request) -> web.Response:
                body = await request.read()
                async with session.request(
                    request.method, upstream + request.path_qs, data=body or None, headers=request.headers
                ) as response:
                    return web.Response(status=response.status, body=await response.read())

        elif kind == "lean":
            sys.path.insert(0, str(REPO))
            from pyfaas.gateway.invocation.upstream import UpstreamClient, endpoint_of

            lean = UpstreamClient(connect_timeout=5.0)
            endpoint = endpoint_of(upstream)
            assert endpoint is not None

            async def handle(request: web.Request) -> web.Response:
                body = await request.read()
                headers = [
                    (k, v) for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
                ]
                response = await lean.request(
                    endpoint, request.method, request.path_qs, headers, body or None
                )
                try:
                    return web.Response(status=response.status, body=await response.read())
                finally:
                    response.release()

        else:
            client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=100)
            )

            async def handle(request: web.Request) -> web.Response:
                body = await request.read()
                response = await client.request(
                    request.method,
                    upstream + request.path_qs,
                    content=body or None,
                    headers=dict(request.headers),
                )
                return web.Response(status=response.status_code, body=response.content)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    uvloop.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians are reported)")
    parser.add_argument("--cold-samples", type=int, default=20)
    parser.add_argument("--skip-clients", action="store_true", help="skip the aiohttp/httpx proxy comparison")
    parser.add_argument(
        "--serve-proxy", nargs=3, metavar=("KIND", "PORT", "UPSTREAM"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_proxy:
        serve_proxy(args.serve_proxy[0], int(args.serve_proxy[1]), args.serve_proxy[2])
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 1

    load_at_start = os.getloadavg()[0]
    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="pyfaas-bench-gw-"))
    handler = work / "function"
    handler.mkdir()
    (handler / "handler.py").write_text(HANDLER)
    log = work / "servers.log"
    watchdog_port, gateway_port, metrics_port, flask_port = (free_port() for _ in range(4))
    base_env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": str(REPO), "HOME": str(work)}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(
            start(
                [python, "-m", "pyfaas.watchdog"],
                {
                    **base_env,
                    "mode": "python",
                    "handler": str(handler),
                    "port": str(watchdog_port),
                    "metrics_port": "0",
                    "bind_address": "127.0.0.1",
                    "lock_path": str(work / "direct.lock"),
                    "healthcheck_interval": "0",
                },
                log,
            )
        )
        gateway = start(
            [python, "-m", "pyfaas.gateway"],
            {
                **base_env,
                "port": str(gateway_port),
                "metrics_port": str(metrics_port),
                "bind_address": "127.0.0.1",
                "state_dir": str(work / "state"),
                "LOG_LEVEL": "WARNING",
            },
            log,
        )
        processes.append(gateway)
        processes.append(
            start(
                [python, str(REPO / "bench" / "python3_http_flask.py"), str(handler), str(flask_port)],
                dict(os.environ),
                log,
            )
        )
        wait_http(f"http://127.0.0.1:{gateway_port}/healthz")
        spec = {"service": FUNCTION, "image": "local", "envVars": {"mode": "python", "handler": str(handler)}}
        status, body = request("POST", gateway_port, "/system/functions", spec)
        if status != 202:
            raise RuntimeError(f"deploy failed: {status} {body!r}")
        wait_replicas(gateway_port, 1)
        replica_pid = int(next((work / "state" / "run").glob(f"*/{FUNCTION}/*.pid")).read_text().split()[0])
        serving = {"a": [processes[0].pid], "b": [gateway.pid, replica_pid], "c": [processes[2].pid]}
        urls = {
            "a": f"http://127.0.0.1:{watchdog_port}/",
            "b": f"http://127.0.0.1:{gateway_port}/function/{FUNCTION}",
            "c": f"http://127.0.0.1:{flask_port}/",
        }
        for url in urls.values():
            wait_http(url)
        labels = {
            "a": "(a) watchdog direct (python mode)",
            "b": "(b) gateway -> watchdog",
            "c": "(c) Flask + waitress (python3-http)",
        }
        for url in urls.values():  # warm every path (connection pools, code paths) before measuring
            wrk(url, 4, 1)
        # Rounds interleave the three servers, so a change in the machine's load hits all of them alike; the
        # figures are the medians over rounds.
        samples: dict[tuple[str, int], list[Result]] = {}
        for _ in range(args.rounds):
            for connections in (1, 50):
                for key in ("a", "b", "c"):
                    samples.setdefault((key, connections), []).append(
                        wrk(urls[key], connections, args.duration, serving[key])
                    )
        results = {
            combo: Result(
                statistics.median(r.rps for r in runs),
                statistics.median(r.p50_ms for r in runs),
                statistics.median(r.p99_ms for r in runs),
                statistics.median(r.cpu_us for r in runs),
                statistics.median(r.cpu_first_us for r in runs),
            )
            for combo, runs in samples.items()
        }

        print(
            f"gateway benchmark: wrk, {args.rounds} interleaved rounds of {args.duration}s per server and "
            "connection count (medians), handler returns a 20-byte text body"
        )
        print(f"1-minute load average: {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} now\n")
        print(f"{'server':40} {'conns':>5} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}")
        for (key, connections), result in results.items():
            figures = (
                f"{result.rps:>10.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} {result.cpu_us:>11.1f}"
            )
            if key == "b":
                figures += f"  (gateway {result.cpu_first_us:.1f})"
            print(f"{labels[key]:40} {connections:>5} {figures}")
        print("CPU us/req: user + system CPU of the serving processes per request (b: gateway + replica)\n")
        for connections in (1, 50):
            a, b, c = (results[(key, connections)] for key in "abc")
            print(
                f"{connections:>2} connections: b/a = {b.rps / a.rps:.2f}, b/c = {b.rps / c.rps:.2f}, "
                f"CPU per request c/b = {c.cpu_us / b.cpu_us:.2f}"
            )
        overhead = results[("b", 1)].p50_ms - results[("a", 1)].p50_ms
        print(f"gateway overhead at 1 connection, p50(b) - p50(a): {overhead:.3f} ms (target <= 0.4 ms)")
        print(f"b/c at 50 connections: {results[('b', 50)].rps / results[('c', 50)].rps:.2f} (target >= 2.0)")

        cold: list[float] = []
        for _ in range(args.cold_samples):
            request("POST", gateway_port, f"/system/scale-function/{FUNCTION}", {"replicas": 0})
            wait_replicas(gateway_port, 0)
            started = time.perf_counter()
            status, body = request("GET", gateway_port, f"/function/{FUNCTION}")
            cold.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"cold call failed: {status} {body!r}")
        print(
            f"\ncold start through the gateway, scale from zero to first response, {len(cold)} samples: "
            f"p50 {statistics.median(cold):.0f} ms, p95 {percentile(cold, 0.95):.0f} ms, "
            f"min {min(cold):.0f} ms, max {max(cold):.0f} ms (targets p50 <= 100, p95 <= 250)"
        )

        if not args.skip_clients:
            aiohttp_port, httpx_port, lean_port = free_port(), free_port(), free_port()
            upstream = f"http://127.0.0.1:{watchdog_port}"
            for kind, port in (("aiohttp", aiohttp_port), ("httpx", httpx_port), ("lean", lean_port)):
                processes.append(
                    start(
                        [python, __file__, "--serve-proxy", kind, str(port), upstream], dict(os.environ), log
                    )
                )
            proxies = {
                "aiohttp": f"http://127.0.0.1:{aiohttp_port}/",
                "httpx": f"http://127.0.0.1:{httpx_port}/",
                "lean": f"http://127.0.0.1:{lean_port}/",
            }
            for url in proxies.values():
                wait_http(url)
                wrk(url, 4, 1)
            print("\nproxy client choice: bare aiohttp server forwarding to the watchdog of (a) with")
            print(
                "aiohttp.ClientSession, httpx.AsyncClient or the lean client of "
                "runtime/gateway/invocation/upstream.py"
            )
            print(f"{'client':40} {'conns':>5} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
            client_results: dict[tuple[str, int], Result] = {}
            for connections in (1, 50):
                for kind, url in proxies.items():
                    result = client_results[(kind, connections)] = wrk(url, connections, args.duration)
                    print(
                        f"{kind:40} {connections:>5} {result.rps:>10.0f} {result.p50_ms:>8.2f} "
                        f"{result.p99_ms:>8.2f}"
                    )
            for connections in (1, 50):
                ratio = (
                    client_results[("aiohttp", connections)].rps / client_results[("httpx", connections)].rps
                )
                lean_ratio = (
                    client_results[("lean", connections)].rps / client_results[("aiohttp", connections)].rps
                )
                figures = f"aiohttp/httpx = {ratio:.2f}, lean/aiohttp = {lean_ratio:.2f}"
                print(f"{connections:>2} connections: {figures}")
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
