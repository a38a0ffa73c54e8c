"""``pyfaas up`` / ``pyfaas down`` with real processes: NATS, gateway, worker, monitoring, idler, replicas."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.platform import (
    ROOT,
    LocalPlatform,
    marked_processes,
    pyfaas,
    running_platform,
    wait_until,
)

EXAMPLES = ROOT / "examples"
EXAMPLE_NAMES = {"echo", "json-api", "wc", "slow", "sleepy"}


def _async_call_succeeds(platform: LocalPlatform, client: httpx.Client, query: str) -> str:
    submitted = httpx.post(f"{platform.gateway_url}/async-function/slow?{query}", content=b"", timeout=10)
    assert submitted.status_code == 202, submitted.text
    call_id = submitted.headers["X-Call-Id"]

    def done() -> bool:
        record = client.get(f"/system/async/{call_id}")
        return record.status_code == 200 and record.json()["state"] == "succeeded"

    wait_until(done, 30, f"async call {call_id} did not succeed")
    return call_id


def test_detached_platform_serves_restarts_the_worker_and_leaves_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with running_platform(state, args=()) as platform:  # monitoring too, when installed
        # what the user is told
        assert platform.gateway_url in platform.up_output
        assert f"{platform.gateway_url}/ui/" in platform.up_output
        assert platform.password in platform.up_output and "admin" in platform.up_output
        password_file = state / "basic-auth-password"
        assert password_file.stat().st_mode & 0o777 == 0o600
        assert set(platform.ports) >= {"gateway", "gateway_metrics", "nats", "worker_metrics"}

        with platform.client() as client:
            # the bundled examples are deployed and ready
            functions = {f["name"]: f for f in client.get("/system/functions").json()}
            assert set(functions) == EXAMPLE_NAMES
            assert all(f["availableReplicas"] >= 1 for f in functions.values()), functions
            assert client.get("/system/functions", auth=("admin", "wrong")).status_code == 401

            echoed = httpx.post(f"{platform.gateway_url}/function/echo", content=b"hello", timeout=10)
            assert echoed.status_code == 200 and echoed.json()["body"] == "hello"
            counted = httpx.post(f"{platform.gateway_url}/function/wc", content=b"12345", timeout=10)
            assert counted.status_code == 200 and counted.text.strip() == "5"
            _async_call_succeeds(platform, client, "seconds=0.1")

            # a second `pyfaas up` on the same state directory refuses, in one line
            again = pyfaas("up", "--detach", "--port", "0", "--state-dir", str(state), cwd=tmp_path)
            assert again.returncode == 1
            assert "already running" in again.stderr and len(again.stderr.strip().splitlines()) == 1

            # a crashed worker is restarted, and async calls work again
            worker = platform.children()["worker"]
            os.kill(worker.pid, signal.SIGKILL)
            wait_until(
                lambda: (
                    platform.children()["worker"].pid != worker.pid and platform.children()["worker"].alive()
                ),
                30,
                "the worker was not restarted",
            )
            assert not worker.alive()
            _async_call_succeeds(platform, client, "seconds=0.1")
            platform.snapshot()
            assert len(platform.replicas()) >= len(EXAMPLE_NAMES)
    # running_platform's exit ran `pyfaas down` and checked every recorded PID and marked process
    assert not (state / "up.pid").exists()
    assert not marked_processes(state)


def _write_stack(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["version: 1.0", "provider:", "  name: openfaas", "functions:"]
    for name in names:
        shutil.copytree(EXAMPLES / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        lines += [
            f"  {name}:",
            "    lang: python3-http",
            f"    handler: ./{name}",
            f"    image: example/{name}",
        ]
    (folder / "stack.yml").write_text("\n".join(lines) + "\n")


def test_ctrl_c_stops_a_foreground_platform(tmp_path: Path) -> None:
    project, state = tmp_path / "project", tmp_path / "state"
    _write_stack(project, "echo")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "up",
            "--port",
            "0",
            "--state-dir",
            str(state),
            "--no-monitoring",
        ],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = state / "status.json"
        wait_until(
            lambda: (
                (status.exists() and '"state": "ready"' in status.read_text()) or process.poll() is not None
            ),
            90,
            "foreground pyfaas up did not get ready",
        )
        assert process.poll() is None, process.communicate()[0]
        platform = LocalPlatform(state_dir=state.resolve(), cwd=project, up_output="")
        records = platform.snapshot()
        assert platform.children().keys() == {"nats", "gateway", "worker", "idler"}
        answer = httpx.post(f"{platform.gateway_url}/function/echo", content=b"hi", timeout=10)
        assert answer.json()["body"] == "hi"
        assert len(records) >= 6  # supervisor, 4 services, a replica (and the zygote)

        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output
        assert "pyfaas is up" in output and "pyfaas stopped" in output
        assert not platform.survivors()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        pyfaas("down", "--state-dir", str(state), cwd=tmp_path)


def test_bad_stack_file_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text("provider:\n  name: openfaas\nfunctions:\n  echo:\n    labels: [1]\n")
    result = pyfaas("up", "--port", "0", "--state-dir", str(tmp_path / "state"), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "stack.yml:" in lines[0] and "functions.echo" in lines[0], result.stderr
    assert not (tmp_path / "state" / "up.pid").exists()


def test_down_without_a_running_platform(tmp_path: Path) -> None:
    result = pyfaas("down", "--state-dir", str(tmp_path / "nothing"), cwd=tmp_path)
    assert result.returncode == 0 and "Nothing to stop" in result.stdout
    (tmp_path / "state").mkdir()
    result = pyfaas("down", "--state-dir", str(tmp_path / "state"), cwd=tmp_path)
    assert result.returncode == 0 and "not running" in result.stdout


def test_busy_gateway_port_is_reported(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        start = time.monotonic()
        result = pyfaas(
            "up",
            "--detach",
            "--no-deploy",
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path / "s"),
            cwd=tmp_path,
        )
    assert result.returncode == 1 and f"port {port} is in use" in result.stderr, result.stderr
    assert time.monotonic() - start < 60
    assert not marked_processes(tmp_path / "s")
