"""Gateway A/B: the same python-mode function behind gateways built from two git revisions, side by side.

    .venv/bin/python bench/gateway_ab.py BEFORE [AFTER] [--rounds 8] [--duration 3] [--connections 50]

``BEFORE`` and ``AFTER`` are git revisions (``AFTER`` defaults to the working tree). Each side's ``runtime``
folder is exported to a temporary directory (``git archive``) under the name its code imports it by
(``pyfaas`` since the packaging rename, ``runtime`` before it, so revisions from either side of the rename
compare) and runs as its own ``python -m NAME.gateway`` with its own state directory, so each has its own
local-provider replica forked from its own zygote. Both run with ``local_sandbox=false`` (revisions before
the sandbox ignore it), so the two sides do the same work per call. ``wrk`` loads the two alternately
(the order flips every round, so a change in the machine's load hits both alike). Printed per side: req/s,
and the CPU time per request of the gateway and of gateway + replica, read from ``/proc``; then the
after/before ratios of their medians. CPU per request moves much less with the machine's load than req/s
does, so on a busy machine it is the figure to compare.

``--profile DIR`` runs each gateway under cProfile (``DIR/before.prof``, ``DIR/after.prof``; its CPU figures
are then the profiler's, not the code's) and prints each side's Python calls per call served, counted by the
gateway's own invocation counter, and the functions whose calls per call differ. Calls per call hardly move
with the machine's load: it is the figure that says what a change added to the call path.
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gateway as bench  # bench/gateway.py: the shared helpers

REPO = Path(__file__).resolve().parents[1]


def export(revision: str | None, into: Path) -> str:
    """``runtime/`` of ``revision`` (None: the working tree) under ``into``, in a folder named as its code
    imports it; returns that name. The folder on ``PYTHONPATH`` must carry the import name: a ``pyfaas``
    missing from it would be found by the editable install's finder, i.e. the working tree, on both sides."""
    into.mkdir(parents=True)
    if revision is None:
        shutil.copytree(
            REPO / "runtime", into / "runtime", symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    else:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", revision, "runtime"],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(into, filter="data")
    if "from runtime." in (into / "runtime" / "gateway" / "__main__.py").read_text():
        return "runtime"  # before the packaging rename
    (into / "runtime").rename(into / "pyfaas")
    return "pyfaas"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", help="git revision of the first side")
    parser.add_argument(
        "after", nargs="?", help="git revision of the second side (default: the working tree)"
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--profile", type=Path, metavar="DIR", help="run each gateway under cProfile")
    args = parser.parse_args()
    if args.profile is not None:
        args.profile = args.profile.resolve()  # the gateways run in their own folders
        args.profile.mkdir(parents=True, exist_ok=True)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 1

    work = Path(tempfile.mkdtemp(prefix="pyfaas-bench-ab-"))
    handler = work / "function"
    handler.mkdir()
    (handler / "handler.py").write_text(bench.HANDLER)
    sides = {"before": args.before, "after": args.after or "working tree"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        urls: dict[str, str] = {}
        pids: dict[str, list[int]] = {}
        metrics_ports: dict[str, int] = {}
        for side, revision in (("before", args.before), ("after", args.after)):
            tree = work / side
            package = export(revision, tree)
            port, metrics_port = bench.free_port(), bench.free_port()
            env = {
                "PATH": os.environ.get("PATH", os.defpath),
                "PYTHONPATH": str(tree),
                "HOME": str(work),
                "port": str(port),
                "metrics_port": str(metrics_port),
                "bind_address": "127.0.0.1",
                "state_dir": str(work / side / "state"),
                "LOG_LEVEL": "WARNING",
                "local_sandbox": "false",
            }
            profiler = (
                [] if args.profile is None else ["-m", "cProfile", "-o", str(args.profile / f"{side}.prof")]
            )
            gateway = subprocess.Popen(
                [sys.executable, *profiler, "-m", f"{package}.gateway"],
                env=env,
                cwd=str(tree),
                stdout=(work / f"{side}.log").open("ab"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            processes.append(gateway)
            bench.wait_http(f"http://127.0.0.1:{port}/healthz")
            spec = {
                "service": bench.FUNCTION,
                "image": "local",
                "envVars": {"mode": "python", "handler": str(handler)},
            }
            status, body = bench.request("POST", port, "/system/functions", spec)
            if status != 202:
                raise RuntimeError(f"{side}: deploy failed: {status} {body!r}")
            bench.wait_replicas(port, 1)
            pid_file = next((work / side / "state" / "run").glob(f"*/{bench.FUNCTION}/*.pid"))
            pids[side] = [gateway.pid, int(pid_file.read_text().split()[0])]
            urls[side] = f"http://127.0.0.1:{port}/function/{bench.FUNCTION}"
            metrics_ports[side] = metrics_port
        for url in urls.values():
            bench.wrk(url, 4, 1)

        load_at_start = os.getloadavg()[0]
        results: dict[str, list[bench.Result]] = {side: [] for side in urls}
        for round_number in range(args.rounds):
            order = ("before", "after") if round_number % 2 == 0 else ("after", "before")
            for side in order:
                results[side].append(bench.wrk(urls[side], args.connections, args.duration, pids[side]))

        print(
            f"gateway A/B: wrk -c{args.connections}, {args.rounds} alternating rounds of {args.duration}s; "
            f"load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} now"
        )
        medians: dict[str, tuple[float, float, float]] = {}
        for side, runs in results.items():
            rps = statistics.median(r.rps for r in runs)
            gateway_us = statistics.median(r.cpu_first_us for r in runs)
            chain_us = statistics.median(r.cpu_us for r in runs)
            medians[side] = (rps, gateway_us, chain_us)
            rounds = ", ".join(f"{r.rps:.0f}" for r in runs)
            print(
                f"{side:6} {sides[side]:>14}: req/s {rps:8.0f}  CPU per request: gateway {gateway_us:6.1f} "
                f"us, gateway + replica {chain_us:6.1f} us   (rounds: {rounds})"
            )
        before, after = medians["before"], medians["after"]
        print(
            f"after/before: req/s {after[0] / before[0]:.2f}, gateway CPU per request "
            f"{after[1] / before[1]:.2f}, gateway + replica {after[2] / before[2]:.2f}"
        )
        served = {side: invocations(port) for side, port in metrics_ports.items()}
    finally:
        for process in reversed(processes):
            bench.stop(process)  # a profiled gateway writes its profile as it exits
        shutil.rmtree(work, ignore_errors=True)
    if args.profile is not None:
        compare_profiles(args.profile, served)
    return 0


def invocations(metrics_port: int) -> float:
    """Calls the gateway has served (warm-up included), from its ``gateway_function_invocation_total``."""
    status, body = bench.request("GET", metrics_port, "/metrics")
    if status != 200:
        raise RuntimeError(f"metrics: {status}")
    found = re.findall(rb"^gateway_function_invocation_total\{[^}]*\} ([0-9.e+]+)$", body, re.MULTILINE)
    return sum(float(value) for value in found)


def _where(key: tuple[str, int, str]) -> str:
    """A profile entry's function, named alike on both sides (each side's tree lives in its own folder)."""
    path, _, name = key
    for marker in ("/pyfaas/", "/runtime/", "site-packages/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{name}"


def compare_profiles(directory: Path, served: dict[str, float]) -> None:
    per_call: dict[str, dict[str, float]] = {}
    for side, calls in served.items():
        stats = pstats.Stats(str(directory / f"{side}.prof"))
        table: dict[str, float] = {}
        for key, (_, count, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
            table[_where(key)] = table.get(_where(key), 0.0) + count / calls
        per_call[side] = table
        total = stats.total_calls / calls  # type: ignore[attr-defined]
        print(
            f"profile {side:6}: {calls:.0f} calls served, {total:.1f} Python calls per call (with start-up)"
        )
    before, after = per_call["before"], per_call["after"]
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, 0.0), after.get(name, 0.0)
        if abs(new - old) >= 0.5:
            print(f"  {new - old:+6.2f} per call  {old:6.2f} -> {new:6.2f}  {name}")


if __name__ == "__main__":
    sys.exit(main())
