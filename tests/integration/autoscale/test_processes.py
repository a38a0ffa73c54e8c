"""The entry points as processes: ``python -m pyfaas.idler`` and ``python -m pyfaas.cli.local.monitoring``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pyfaas.cli.local.monitoring import EXIT_NOT_INSTALLED, FALLBACK_NOTE, find_binaries
from tests.support.gateway import free_port, running_gateway
from tests.support.polling import eventually
from tests.support.providers import pyfaas_processes

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(60)


def spawn(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module],
            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), **env},
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], within: float = 10.0) -> int:
    """SIGTERM, then the exit code; ``TimeoutExpired`` (after a SIGKILL) if it is not gone ``within`` seconds,
    far less than the hour-long sleep between the idler's rounds."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(within)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
        raise


async def wait_http(url: str, within: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                return await client.get(url)
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {within}s")


async def test_idler_process_serves_metrics_and_stops_at_once_on_sigterm(tmp_path: Path) -> None:
    async with running_gateway(tmp_path / "state", auth=True) as gateway:
        port = free_port()
        process = spawn(
            "pyfaas.idler",
            {
                "gateway_url": gateway.url,
                "gateway_metrics_url": f"{gateway.url}/no-metrics-here",
                "secret_mount_path": str(tmp_path / "state" / "gateway-secrets"),
                "reconcile_interval": "1h",  # the sleep must still end on SIGTERM
                "dry_run": "true",
                "metrics_port": str(port),
                "bind_address": "127.0.0.1",
            },
            tmp_path / "idler.log",
        )
        metrics = f"http://127.0.0.1:{port}/metrics"
        try:
            # The first round fails (the metrics URL answers 404) and is counted; then the 1h sleep begins.
            counted = await eventually(
                lambda: wait_http(metrics), lambda r: "idler_reconcile_errors_total 1.0" in r.text, 15
            )
            assert "idler_dry_run 1.0" in counted.text
        finally:
            code = await asyncio.to_thread(stop, process)  # ends the 1h sleep at once, or raises
        assert code == 0, (tmp_path / "idler.log").read_text()


def test_idler_bad_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyfaas.idler"],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "inactivity_duration": "forever"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "inactivity_duration" in result.stderr


def test_monitoring_without_binaries_exits_3_with_the_fallback_note(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pyfaas.cli.local.monitoring"],
        env={"PATH": str(empty), "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == EXIT_NOT_INSTALLED
    assert FALLBACK_NOTE in result.stderr


@pytest.mark.prometheus
@pytest.mark.skipif(find_binaries() is None, reason="prometheus binaries are not installed")
async def test_monitoring_process_runs_both_and_stops_them(tmp_path: Path) -> None:
    prometheus_port, alertmanager_port = free_port(), free_port()
    work = tmp_path / "monitoring"
    process = spawn(
        "pyfaas.cli.local.monitoring",
        {
            "prometheus_port": str(prometheus_port),
            "alertmanager_port": str(alertmanager_port),
            "monitoring_dir": str(work),
            "gateway_url": "http://127.0.0.1:1",
            "gateway_metrics_address": "127.0.0.1:1",
        },
        tmp_path / "monitoring.log",
    )
    try:
        for port in (prometheus_port, alertmanager_port):
            ready = f"http://127.0.0.1:{port}/-/ready"
            await eventually(lambda: wait_http(ready), lambda r: r.status_code == 200, 20)  # noqa: B023
        assert (work / "prometheus.yml").exists()
        assert (work / "alertmanager.yml").exists()
    finally:
        code = await asyncio.to_thread(stop, process)
    assert code == 0, (tmp_path / "monitoring.log").read_text()
    assert pyfaas_processes(work) == []
