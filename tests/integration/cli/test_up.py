"""``pyfaas up`` / ``pyfaas down`` with real processes: NATS, gateway, worker, monitoring, idler, replicas."""

from __future__ import annotations

import os
import signal
import socket
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
            counted = httpx.post(f"{platform.gateway_url}/function/wc", content=b"one two three", timeout=10)
            assert counted.status_code == 200 and counted.text.strip() == "3"  # words, as its name says
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


def test_a_failed_detached_start_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = pyfaas("up", "-d", "--no-deploy", f"--port={port}", "--state-dir=s", cwd=tmp_path)
    assert result.returncode == 1
    assert f"Error: port {port} is in use" in result.stderr.strip().splitlines()[-1], result.stderr
    assert not marked_processes(tmp_path / "s") and not (tmp_path / "s" / "up.pid").exists()


def test_up_reports_a_function_that_crashes_at_start_without_waiting_its_timeout(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "good").mkdir(parents=True)
    (project / "broken").mkdir()
    (project / "good" / "handler.py").write_text("def handle(event, context):\n    return 'ok'\n")
    (project / "broken" / "handler.py").write_text("def handle(event, context)\n    return 'never'\n")
    (project / "stack.yml").write_text(
        "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"
        "  good: {lang: python3-http, handler: ./good, image: x/good:1}\n"
        "  broken: {lang: python3-http, handler: ./broken, image: x/broken:1}\n"
    )
    # A ready timeout far longer than the test's own (300 s): only the crash report can end the wait.
    args = ("--no-monitoring", "--timeout", "600")
    with running_platform(tmp_path / "state", cwd=project, args=args) as platform:
        assert "broken does not start" in platform.up_output, platform.up_output
        assert "SyntaxError" in platform.up_output, platform.up_output
        assert httpx.post(f"{platform.gateway_url}/function/good", content=b"", timeout=10).text == "ok"
