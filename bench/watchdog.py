"""Watchdog benchmark: the same trivial python3-http handler served four ways, loaded by ``wrk``.

    .venv/bin/python bench/watchdog.py [--duration 3] [--rounds 3] [--skip-fork]

(a) Flask + waitress as OpenFaaS's python3-http template serves it; (b) pyfaas ``python`` mode; (c) pyfaas
``http`` mode in front of (a); (d) ``fork`` mode with ``cat`` (the classic watchdog's shape). Every server is
measured in this run, side by side, at 1 and 50 connections (fork mode also at 4), in interleaved rounds;
each figure is the median over the rounds. The ratios b/a and c/a are the results that matter on a shared
machine. Also prints the resident memory of a python-mode watchdog with an
empty handler.
"""

from __future__ import annotations

import argparse
import contextlib
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
EMPTY_HANDLER = "def handle(event, context):\n    return None\n"


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, env=env, cwd=str(REPO), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(5)


def watchdog_env(extra: dict[str, str], work: Path, name: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONPATH": str(REPO),
        "port_file": str(work / f"{name}.port"),
        "lock_path": str(work / f"{name}.lock"),
        "metrics_port": "0",
        "bind_address": "127.0.0.1",
        "healthcheck_interval": "0",
    }
    env.update(extra)
    return env


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"cannot parse wrk latency {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(url: str, connections: int, duration: float) -> Result:
    threads = 1 if connections < 4 else 2
    output = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    return Result(rps, p50, p99)


def memory_mb(pid: int) -> dict[str, float]:
    """Rss, Pss and private (clean + dirty) memory of ``pid`` in MB, from ``smaps_rollup``."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] in ("Rss:", "Pss:", "Private_Clean:", "Private_Dirty:"):
            values[parts[0].rstrip(":")] = int(parts[1]) / 1024
    values["Private"] = values.pop("Private_Clean", 0.0) + values.pop("Private_Dirty", 0.0)
    return values


def zygote_replica_memory(work: Path, handler_dir: Path) -> dict[str, float]:
    """Fork a python-mode replica from the watchdog's zygote, serve 2,000 requests, measure its memory."""
    socket_path = work / "zygote.sock"
    zygote = subprocess.Popen(
        [sys.executable, "-m", "pyfaas.watchdog.zygote_server", "--socket", str(socket_path)],
        cwd=str(REPO),
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    pid = 0
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        port_file = work / "z.port"
        env = watchdog_env({"mode": "python", "handler": str(handler_dir), "port": "0"}, work, "z")
        env["port_file"] = str(port_file)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as control:
            control.connect(str(socket_path))
            stream = control.makefile("rwb")
            request = {"op": "spawn", "env": env, "cwd": str(work), "log": str(work / "z.log")}
            stream.write(json.dumps(request).encode() + b"\n")
            stream.flush()
            pid = int(json.loads(stream.readline())["pid"])
            while not port_file.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            url = f"http://127.0.0.1:{int(port_file.read_text())}/"
            for _ in range(2000):
                urllib.request.urlopen(url, timeout=5).read()
            return memory_mb(pid)
    finally:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(zygote.pid, signal.SIGKILL)
        zygote.wait(5)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--skip-fork", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 1
    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="pyfaas-bench-"))
    fn = work / "function"
    fn.mkdir()
    (fn / "handler.py").write_text(HANDLER)
    empty = work / "empty"
    empty.mkdir()
    (empty / "handler.py").write_text(EMPTY_HANDLER)
    log = work / "servers.log"
    flask_script = str(REPO / "bench" / "python3_http_flask.py")

    flask_port, python_port, inline_port, http_port, fork_port, upstream_port, empty_port = (
        free_port() for _ in range(7)
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(start([python, flask_script, str(fn), str(flask_port)], dict(os.environ), log))
        processes.append(
            start(
                [python, "-m", "pyfaas.watchdog"],
                watchdog_env({"mode": "python", "handler": str(fn), "port": str(python_port)}, work, "b"),
                log,
            )
        )
        processes.append(
            start(
                [python, "-m", "pyfaas.watchdog"],
                watchdog_env(
                    {"mode": "python", "handler": str(fn), "port": str(inline_port), "python_inline": "auto"},
                    work,
                    "b2",
                ),
                log,
            )
        )
        processes.append(
            start(
                [python, "-m", "pyfaas.watchdog"],
                watchdog_env(
                    {
                        "mode": "http",
                        "fprocess": f"{python} {flask_script} {fn} {upstream_port}",
                        "upstream_url": f"http://127.0.0.1:{upstream_port}",
                        "port": str(http_port),
                    },
                    work,
                    "c",
                ),
                log,
            )
        )
        processes.append(
            start(
                [python, "-m", "pyfaas.watchdog"],
                watchdog_env({"mode": "fork", "fprocess": "cat", "port": str(fork_port)}, work, "d"),
                log,
            )
        )
        empty_process = start(
            [python, "-m", "pyfaas.watchdog"],
            watchdog_env({"mode": "python", "handler": str(empty), "port": str(empty_port)}, work, "e"),
            log,
        )
        processes.append(empty_process)
        urls = {
            "a": f"http://127.0.0.1:{flask_port}/",
            "b": f"http://127.0.0.1:{python_port}/",
            "b2": f"http://127.0.0.1:{inline_port}/",
            "c": f"http://127.0.0.1:{http_port}/",
            "d": f"http://127.0.0.1:{fork_port}/",
        }
        for url in [*urls.values(), f"http://127.0.0.1:{empty_port}/"]:
            wait_http(url)
        labels = {
            "a": "Flask + waitress (python3-http)",
            "b": "pyfaas python mode",
            "b2": "pyfaas python mode, python_inline=auto",
            "c": "pyfaas http mode -> Flask",
            "d": "pyfaas fork mode (cat)",
        }
        samples: dict[tuple[str, int], list[Result]] = {}
        plan = [("a", 1), ("b", 1), ("b2", 1), ("c", 1), ("a", 50), ("b", 50), ("b2", 50), ("c", 50)]
        if not args.skip_fork:
            plan += [("d", 1), ("d", 4), ("d", 50)]
        for key, _ in plan:
            wrk(urls[key], 4, 1.0)  # warm-up (also promotes b2's handler to inline calls)
        for _ in range(args.rounds):
            for key, connections in plan:
                samples.setdefault((key, connections), []).append(wrk(urls[key], connections, args.duration))
        results = {
            point: Result(
                statistics.median(r.rps for r in runs),
                statistics.median(r.p50_ms for r in runs),
                statistics.median(r.p99_ms for r in runs),
            )
            for point, runs in samples.items()
        }
        for _ in range(2000):
            urllib.request.urlopen(f"http://127.0.0.1:{empty_port}/", timeout=5).read()
        empty_rss = rss_mb(empty_process.pid)
        forked = zygote_replica_memory(work, empty)
    finally:
        for process in processes:
            stop(process)

    print(
        f"\nwatchdog benchmark: {os.cpu_count()} CPUs, wrk {args.duration}s per run, median of {args.rounds} "
        f"rounds, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'server':40} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for (key, connections), result in results.items():
        row = f"{labels[key]:40} {connections:>5} {result.rps:>9.0f}"
        print(f"{row} {result.p50_ms:>8.3f} {result.p99_ms:>8.2f}")
    for connections in (1, 50):
        a, b, b2, c = (results[key, connections] for key in ("a", "b", "b2", "c"))
        print(
            f"c={connections:<3} b/a req/s {b.rps / a.rps:5.2f}  (inline {b2.rps / a.rps:5.2f})   "
            f"c/a req/s {c.rps / a.rps:5.2f}   p99 a {a.p99_ms:.2f} ms, b {b.p99_ms:.2f} ms, "
            f"inline {b2.p99_ms:.2f} ms"
        )
    print(f"python-mode watchdog RSS with an empty handler: {empty_rss:.1f} MB (python -m pyfaas.watchdog)")
    print(
        f"  the same forked from the zygote (local mode): RSS {forked['Rss']:.1f} MB, "
        f"PSS {forked['Pss']:.1f} MB, private {forked['Private']:.1f} MB"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
