"""Autoscaling benchmark: load onset → second replica serving, for the alert path and for target tracking;
scale to zero accuracy and wake-ups.

    .venv/bin/python bench/autoscale.py [--samples 10] [--rps 50] [--ce-samples 3]

Real processes on loopback: ``python -m pyfaas.gateway`` (local provider, basic auth, metrics on its own
port), ``prometheus`` and ``prometheus-alertmanager`` rendered from ``alerts/`` with local timings (1 s scrape
and evaluation, 0.5 s group_wait), and ``python -m pyfaas.idler`` (once reading the gateway's metrics, once
reading Prometheus). The load generator runs in this process at a fixed rate; every call's answer is the PID
of the replica that served it, so "second replica serving" is the first answer from a second PID.

Each sample uses a fresh function (deployed and warmed with one call before the clock starts), so no alert
or stabilisation state carries over between samples. With ``--ce-samples N`` the alert path is also run
with OpenFaaS CE's timings (scrape 5 s, evaluation 15 s, ``for: 5s``, group_wait 5 s) in the same run, for a
ratio measured side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pyfaas.cli.local.monitoring import DEFAULT_ALERTS_DIR, MonitoringConfig, MonitoringStack, find_binaries  # noqa: E402
from pyfaas.core.alerting import LOCAL_TIMINGS, Timings  # noqa: E402
from pyfaas.core.labels import (  # noqa: E402
    LABEL_SCALE_FACTOR,
    LABEL_SCALE_MAX,
    LABEL_SCALE_MIN,
    LABEL_SCALE_TARGET,
    LABEL_SCALE_TYPE,
    LABEL_SCALE_ZERO,
    LABEL_SCALE_ZERO_DURATION,
)
from tests.support.gateway import CREDENTIALS, GatewayProcess, write_credentials  # noqa: E402
from tests.support.prometheus import PID_HANDLER, Load  # noqa: E402
from tests.support.providers import python_function, write_handler  # noqa: E402

CE_TIMINGS = Timings(
    scrape_interval=15.0,
    gateway_scrape_interval=5.0,
    evaluation_interval=15.0,
    alert_resend_delay=60.0,
    group_wait=5.0,
    group_interval=10.0,
    repeat_interval=30.0,
)
"""OpenFaaS CE's chart: global 15 s, gateway pods every 5 s, AlertManager 5 s / 10 s / 30 s (contract §7)."""


@dataclass
class Platform:
    gateway: GatewayProcess
    client: httpx.AsyncClient
    handler_dir: Path
    secrets: Path

    async def deploy(self, name: str, labels: dict[str, str]) -> None:
        spec = python_function(name, self.handler_dir, labels=labels)
        response = await self.client.post("/system/functions", json=spec.wire())
        response.raise_for_status()
        await self.wait(name, lambda d, a: a >= 1, 30)
        async with httpx.AsyncClient(base_url=self.gateway.url, timeout=30.0) as calls:
            (await calls.get(f"/function/{name}")).raise_for_status()

    async def replicas(self, name: str) -> tuple[int, int]:
        status = (await self.client.get(f"/system/function/{name}")).json()
        return int(status.get("replicas", 0)), int(status.get("availableReplicas", 0))

    async def wait(self, name: str, predicate: Callable[[int, int], bool], within: float) -> float:
        """Seconds until ``predicate(desired, available)``; raises TimeoutError after ``within``."""
        began = time.monotonic()
        while time.monotonic() - began < within:
            if predicate(*await self.replicas(name)):
                return time.monotonic() - began
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{name}: condition not met within {within}s")


@asynccontextmanager
async def platform(work: Path) -> AsyncIterator[Platform]:
    secrets = write_credentials(work / "secrets")
    gateway = GatewayProcess(
        work / "state", {"basic_auth": "true", "secret_mount_path": str(secrets), "LOG_LEVEL": "WARNING"}
    )
    await gateway.start()
    client = httpx.AsyncClient(base_url=gateway.url, auth=CREDENTIALS, timeout=10.0)
    try:
        yield Platform(gateway, client, write_handler(work / "handler", PID_HANDLER), secrets)
    finally:
        await client.aclose()
        await gateway.stop()


@asynccontextmanager
async def monitoring(
    p: Platform, work: Path, timings: Timings, alerts_dir: Path
) -> AsyncIterator[MonitoringStack]:
    config = MonitoringConfig(
        work_dir=work,
        gateway_url=p.gateway.url,
        gateway_metrics_target=f"127.0.0.1:{p.gateway.metrics_port}",
        basic_auth_user=CREDENTIALS[0],
        basic_auth_password_file=str(p.secrets / "basic-auth-password"),
        alerts_dir=alerts_dir,
        timings=timings,
    )
    async with MonitoringStack(config) as stack:
        await stack.wait_scraping()
        yield stack


@asynccontextmanager
async def idler(p: Platform, work: Path, prometheus: MonitoringStack | None) -> AsyncIterator[None]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "gateway_url": p.gateway.url,
        "gateway_metrics_url": f"http://127.0.0.1:{p.gateway.metrics_port}/metrics",
        "secret_mount_path": str(p.secrets),
        "rate_window": "3s",
        "reconcile_interval": "500ms",
        "metrics_port": "-1",
        "LOG_LEVEL": "WARNING",
    }
    if prometheus is not None:
        env["prometheus_host"] = "127.0.0.1"
        env["prometheus_port"] = str(prometheus.prometheus_port)
    with (work / f"idler-{time.monotonic_ns()}.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 - a quick fork, before any measurement
            [sys.executable, "-m", "pyfaas.idler"], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        await asyncio.sleep(1.0)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 10)


async def second_replica_serving(p: Platform, name: str, rps: float, within: float = 60.0) -> float:
    """Start load on ``name``; seconds from onset until a second replica answered a call."""
    load = Load(p.gateway.url, name, rps=rps, concurrency=16)
    onset = time.monotonic()
    load.start()
    try:
        while time.monotonic() - onset < within:
            if len(load.first_seen) >= 2:
                return sorted(load.first_seen.values())[1] - onset
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{name}: no second replica within {within}s")
    finally:
        await load.stop()
        if load.failures:
            print(f"  warning: {load.failures} failed calls on {name}: {dict(load.codes)} {load.errors[:2]}")


async def samples_of(label: str, count: int, run: Callable[[int], Awaitable[float]]) -> list[float]:
    values = []
    for index in range(count):
        values.append(await run(index))
        print(f"  {label} #{index + 1}: {values[-1]:.2f} s", flush=True)
    return values


async def alert_path(p: Platform, prefix: str, count: int, rps: float) -> list[float]:
    labels = {LABEL_SCALE_MIN: "1", LABEL_SCALE_MAX: "2", LABEL_SCALE_FACTOR: "50"}
    for index in range(count):
        await p.deploy(f"{prefix}-{index}", labels)
    await asyncio.sleep(3.0)  # Prometheus has a sample of every warmed counter before the clock starts

    async def one(index: int) -> float:
        return await second_replica_serving(p, f"{prefix}-{index}", rps)

    return await samples_of(prefix, count, one)


async def tracking_path(p: Platform, prefix: str, count: int, rps: float) -> list[float]:
    labels = {LABEL_SCALE_TYPE: "rps", LABEL_SCALE_TARGET: "10", LABEL_SCALE_MIN: "1", LABEL_SCALE_MAX: "4"}
    for index in range(count):
        await p.deploy(f"{prefix}-{index}", labels)
    await asyncio.sleep(2.0)

    async def one(index: int) -> float:
        return await second_replica_serving(p, f"{prefix}-{index}", rps)

    return await samples_of(prefix, count, one)


async def scale_to_zero(p: Platform, count: int, idle: float) -> tuple[list[float], int, int, list[float]]:
    """Idle seconds before each function reached zero (all run at once), and the wake-up calls."""
    labels = {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: f"{idle:g}s"}
    names = [f"zero-{index}" for index in range(count)]
    for name in names:
        await p.deploy(name, labels)
    calls = httpx.AsyncClient(base_url=p.gateway.url, timeout=60.0)
    last_call: dict[str, float] = {}
    for name in names:  # staggered last calls; idle time counts from the call's start
        last_call[name] = time.monotonic()
        (await calls.get(f"/function/{name}")).raise_for_status()
        await asyncio.sleep(0.2)
    reached: dict[str, float] = {}
    deadline = time.monotonic() + idle * 3 + 10
    while len(reached) < count and time.monotonic() < deadline:
        for name in names:
            if name not in reached and (await p.replicas(name))[0] == 0:
                reached[name] = time.monotonic() - last_call[name]
        await asyncio.sleep(0.05)
    wake_times: list[float] = []
    codes: list[int] = []

    async def wake(name: str) -> None:
        began = time.monotonic()
        answers = await asyncio.gather(*(calls.get(f"/function/{name}") for _ in range(10)))
        wake_times.append(time.monotonic() - began)
        codes.extend(r.status_code for r in answers)

    await asyncio.gather(*(wake(name) for name in names))
    await calls.aclose()
    return (
        [reached[n] for n in names if n in reached],
        sum(1 for c in codes if c != 200),
        len(codes),
        wake_times,
    )


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (
        f"n={len(values)} median {statistics.median(values):.2f} s, p90 {p90:.2f} s, max {max(values):.2f} s"
    )


def ce_alerts_dir(work: Path) -> Path:
    """alerts/ with OpenFaaS CE's rule hold (for: 5s) for the side-by-side CE run."""
    target = work / "alerts-ce"
    shutil.copytree(DEFAULT_ALERTS_DIR, target)
    rules = target / "rules.yml"
    rules.write_text(rules.read_text().replace("for: 1s", "for: 5s", 1))
    return target


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--rps", type=float, default=50.0, help="load per sample (alert threshold: 5/s)")
    parser.add_argument(
        "--ce-samples", type=int, default=3, help="alert path with OpenFaaS CE timings (0: skip)"
    )
    parser.add_argument("--zero-idle", type=float, default=10.0, help="com.openfaas.scale.zero-duration (s)")
    args = parser.parse_args()
    if find_binaries() is None:
        sys.exit("prometheus / prometheus-alertmanager are not installed")
    print(f"load average {os.getloadavg()[0]:.1f}, {args.samples} samples per path at {args.rps:g} calls/s")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pyfaas-bench-autoscale-") as tmp:
        work = Path(tmp)
        async with platform(work) as p:
            async with monitoring(p, work / "monitoring", LOCAL_TIMINGS, DEFAULT_ALERTS_DIR) as stack:
                results["alert"] = await alert_path(p, "alert", args.samples, args.rps)
                async with idler(p, work, None):
                    results["tracking (gateway metrics)"] = await tracking_path(
                        p, "tt", args.samples, args.rps
                    )
                    zero = await scale_to_zero(p, args.samples, args.zero_idle)
                async with idler(p, work, stack):
                    results["tracking (Prometheus)"] = await tracking_path(p, "ttp", args.samples, args.rps)
            if args.ce_samples:
                alerts_ce = ce_alerts_dir(work)
                async with monitoring(p, work / "monitoring-ce", CE_TIMINGS, alerts_ce):
                    results["alert, OpenFaaS CE timings"] = await alert_path(
                        p, "ce", args.ce_samples, args.rps
                    )
    print(f"\nload average {os.getloadavg()[0]:.1f}")
    print("load onset -> second replica serving:")
    for name, values in results.items():
        print(f"  {name:32s} {summary(values)}")
    if "alert, OpenFaaS CE timings" in results and results["alert"]:
        ratio = statistics.median(results["alert, OpenFaaS CE timings"]) / statistics.median(results["alert"])
        print(f"  OpenFaaS CE timings / pyfaas local timings (medians): {ratio:.1f}x")
    idle_times, failed, total, wake_times = zero
    errors = [abs(t - args.zero_idle) / args.zero_idle for t in idle_times]
    print(
        f"scale to zero (zero-duration {args.zero_idle:g} s): idle before zero {summary(idle_times)}; "
        f"worst deviation {max(errors, default=0) * 100:.1f}%; reached zero {len(idle_times)}/{args.samples}"
    )
    print(f"wake-ups: {failed} failed of {total} calls; first answer after wake {summary(wake_times)}")


if __name__ == "__main__":
    asyncio.run(main())
