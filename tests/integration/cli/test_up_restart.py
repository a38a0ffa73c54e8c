"""Ctrl-C stops a foreground ``pyfaas up`` with nothing left running, and a restart on the same state
directory keeps functions, secrets, the password and queued async calls (a call still running at the stop is
released to the stream by the worker and runs again after the restart)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.support.platform import ROOT, LocalPlatform, pyfaas, start_platform, stop_platform, wait_until


def _project(folder: Path) -> Path:
    folder.mkdir()
    for name in ("slow", "echo"):
        shutil.copytree(ROOT / "examples" / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "stack.yml").write_text(
        "provider: {name: openfaas}\n"
        "functions:\n"
        "  slow: {lang: python3-http, handler: ./slow, image: example/slow}\n"
    )
    return folder


def _start_foreground(project: Path, state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyfaas.cli",
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


def test_ctrl_c_stops_everything_and_a_restart_keeps_the_state(tmp_path: Path) -> None:
    project, state = _project(tmp_path / "project"), tmp_path / "state"
    process = _start_foreground(project, state)
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
        first = LocalPlatform(state_dir=state.resolve(), cwd=project, up_output="")
        assert first.children().keys() == {"nats", "gateway", "worker", "idler"}
        password = first.password
        with first.client() as client:
            created = client.post("/system/secrets", json={"name": "api-key", "value": "s3cret"})
            assert created.status_code in (200, 201, 202), created.text
            extra = {
                "service": "extra",
                "image": "example/echo",
                "envVars": {"mode": "python", "handler": str((project / "echo").resolve())},
                "secrets": ["api-key"],
            }
            assert client.post("/system/functions", json=extra).status_code in (200, 202)
            url = f"{first.gateway_url}/async-function/slow?seconds=8"
            submitted = httpx.post(url, content=b"", timeout=10)
            assert submitted.status_code == 202
            call_id = submitted.headers["X-Call-Id"]
            wait_until(
                lambda: client.get(f"/system/async/{call_id}").json()["state"] == "running",
                20,
                "the async call did not start",
            )
            wait_until(lambda: len(first.replicas()) >= 2, 30, "no replica of the function 'extra'")
        records = first.snapshot()
        assert len(records) >= 7  # supervisor, 4 services, 2 replicas (and the zygote)

        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output
        assert "pyfaas is up" in output and "pyfaas stopped" in output
        assert not first.survivors()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
            pyfaas("down", "--state-dir", str(state), cwd=tmp_path)

    restarted_at = datetime.now(UTC)
    second = start_platform(state, cwd=project, args=("--no-monitoring",))
    try:
        assert second.password == password
        assert "unchanged since the last start: slow" in second.up_output  # not rolled over for nothing
        with second.client() as client:
            functions = {f["name"]: f for f in client.get("/system/functions").json()}
            assert {"slow", "extra"} <= set(functions)
            assert functions["extra"]["secrets"] == ["api-key"]
            assert [s["name"] for s in client.get("/system/secrets").json()] == ["api-key"]
            answer = httpx.post(f"{second.gateway_url}/function/extra", content=b"x", timeout=30)
            assert answer.status_code == 200, answer.text

            def finished() -> bool:
                return bool(client.get(f"/system/async/{call_id}").json()["state"] == "succeeded")

            wait_until(finished, 40, "the queued call did not run after the restart")
            record = client.get(f"/system/async/{call_id}").json()
            finished_at = datetime.fromisoformat(record["finishedAt"].replace("Z", "+00:00"))
            assert finished_at > restarted_at, record
    finally:
        stop_platform(second)
