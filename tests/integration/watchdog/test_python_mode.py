"""python mode with real watchdog processes: the handler runs in-process."""

from __future__ import annotations

import fcntl
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.watchdog import REPO_ROOT, WatchdogProcess, wait_for, write_handler

Factory = Callable[..., WatchdogProcess]
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"

HTTP_HANDLER = """
import json

def handle(event, context):
    path = event.path
    if path == "/echo":
        return {
            "statusCode": 200,
            "body": {
                "method": event.method,
                "path": event.path,
                "query": event.query.get("q"),
                "header": event.headers.get("x-custom"),
                "body": event.body.decode(),
                "hostname": context.hostname,
            },
        }
    if path == "/none":
        return None
    if path == "/created":
        return {"statusCode": 201, "body": "made", "headers": {"X-Extra": "yes"}}
    if path == "/text":
        return "plain"
    if path == "/boom":
        raise ValueError("secret detail")
    if path == "/exit":
        raise SystemExit(3)
    if path == "/print":
        print("hello from the handler")
        return "printed"
    return {"statusCode": 200, "body": "Hello from OpenFaaS!"}
"""


class Gate:
    """A handler that blocks until the test opens the gate: the test holds an exclusive ``flock`` on a file,
    the handler marks its entry with a file of its own, then takes a shared lock on the same file. No timing:
    a handler is inside exactly while the gate is closed."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / "gate"
        self._file = self.path.open("w")
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def handler(self, result: str = "ok") -> str:
        return (
            "import fcntl, os, uuid\n\n"
            "def handle(event, context):\n"
            f"    open(os.path.join({str(self.directory)!r}, 'entered-' + uuid.uuid4().hex), 'w').close()\n"
            f"    with open({str(self.path)!r}) as gate:\n"
            "        fcntl.flock(gate, fcntl.LOCK_SH)\n"
            f"    return {result!r}\n"
        )

    def entered(self) -> int:
        return len(list(self.directory.glob("entered-*")))

    def open(self) -> None:
        if not self._file.closed:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    closed = Gate(tmp_path / "gate")
    yield closed
    closed.open()  # never leave a handler thread blocked behind a failed test


@pytest.fixture(scope="module")
def http_watchdog(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.support.watchdog import start_watchdog

    tmp = tmp_path_factory.mktemp("python-mode")
    fn = write_handler(tmp / "function", HTTP_HANDLER)
    watchdog = start_watchdog(tmp, {"mode": "python", "handler": str(fn), "HOSTNAME": "replica-1"})
    yield watchdog
    watchdog.kill()


def test_event_and_context(http_watchdog: WatchdogProcess) -> None:
    response = httpx.post(
        http_watchdog.url + "/echo?q=1&q=2", content=b"payload", headers={"X-Custom": "v"}, timeout=5
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "method": "POST",
        "path": "/echo",
        "query": "1",
        "header": "v",
        "body": "payload",
        "hostname": "replica-1",
    }
    assert float(response.headers["x-duration-seconds"]) >= 0


@pytest.mark.parametrize(
    ("path", "status", "body", "header"),
    [
        ("/", 200, b"Hello from OpenFaaS!", None),
        ("/none", 200, b"", None),
        ("/created", 201, b"made", ("x-extra", "yes")),
        ("/text", 200, b"plain", ("content-type", "text/html; charset=utf-8")),
    ],
)
def test_return_mapping_over_http(
    http_watchdog: WatchdogProcess, path: str, status: int, body: bytes, header: tuple[str, str] | None
) -> None:
    response = httpx.get(http_watchdog.url + path, timeout=5)
    assert (response.status_code, response.content) == (status, body)
    if header:
        assert response.headers[header[0]] == header[1]


def test_exception_gives_500_with_traceback_only_in_the_log(http_watchdog: WatchdogProcess) -> None:
    response = httpx.get(http_watchdog.url + "/boom", timeout=5)
    assert response.status_code == 500
    assert b"secret detail" not in response.content
    wait_for(lambda: "ValueError: secret detail" in http_watchdog.log(), 5, what="traceback in log")
    assert httpx.get(http_watchdog.url + "/exit", timeout=5).status_code == 500  # sys.exit() in a handler
    assert httpx.get(http_watchdog.url + "/", timeout=5).status_code == 200


def test_prints_and_access_log_are_timestamped_lines(http_watchdog: WatchdogProcess) -> None:
    httpx.get(http_watchdog.url + "/print?x=1", timeout=5)
    wait_for(lambda: "GET /print?x=1 - 200" in http_watchdog.log(), 5, what="access log line")
    log = http_watchdog.log()
    assert re.search(rf"^{STAMP} stdout: hello from the handler$", log, re.M)
    assert re.search(rf"^{STAMP} GET /print\?x=1 - 200 - ContentLength: 7B \(\d+\.\d{{4}}s\)$", log, re.M)


def test_body_limit_413(tmp_path: Path, watchdog_factory: Factory) -> None:
    fn = write_handler(tmp_path / "fn", "def handle(event, context):\n    return str(len(event.body))\n")
    watchdog = watchdog_factory({"mode": "python", "handler": str(fn), "max_body_bytes": "1000"})
    assert httpx.post(watchdog.url, content=b"x" * 1000, timeout=5).text == "1000"
    assert httpx.post(watchdog.url, content=b"x" * 1001, timeout=5).status_code == 413

    def chunks() -> Any:
        for _ in range(3):
            yield b"y" * 600

    assert httpx.post(watchdog.url, content=chunks(), timeout=5).status_code == 413


def test_health_ready_metrics_and_lock_file(http_watchdog: WatchdogProcess) -> None:
    url = http_watchdog.url
    health = httpx.get(url + "/_/health", timeout=5)
    assert (health.status_code, health.text) == (200, "OK")
    assert httpx.post(url + "/_/health", timeout=5).status_code == 405
    ready = httpx.get(url + "/_/ready", timeout=5)
    assert (ready.status_code, ready.content) == (200, b"")
    assert http_watchdog.lock_path.exists()
    probe = [sys.executable, "-m", "pyfaas.watchdog", "--run-healthcheck"]
    env = {**http_watchdog.env}
    assert subprocess.run(probe, env=env, cwd=REPO_ROOT, timeout=20).returncode == 0
    env["lock_path"] = str(http_watchdog.lock_path) + ".missing"
    assert subprocess.run(probe, env=env, cwd=REPO_ROOT, timeout=20).returncode == 1
    # the probe needs nothing but the lock file's location (the default mode would want an fprocess)
    bare = {"PYTHONPATH": str(REPO_ROOT), "lock_path": str(http_watchdog.lock_path)}
    assert subprocess.run(probe, env=bare, cwd=REPO_ROOT, timeout=20).returncode == 0
    httpx.get(url + "/", timeout=5)
    metrics = httpx.get(url + "/_/metrics", timeout=5).text
    assert re.search(r'^http_requests_total\{code="200",method="get"\} [1-9]', metrics, re.M)
    assert "http_request_duration_seconds_bucket" in metrics
    assert "http_requests_in_flight" in metrics


def test_async_handler_runs_on_the_loop(tmp_path: Path, watchdog_factory: Factory) -> None:
    source = (
        "import asyncio, threading\n\n"
        "async def handle(event, context):\n"
        "    await asyncio.sleep(0.01)\n"  # it awaits: it must run on the loop
        "    return {'body': {'thread': threading.current_thread().name}}\n"
    )
    fn = write_handler(tmp_path / "fn", source)
    watchdog = watchdog_factory({"mode": "python", "handler": str(fn)})
    assert httpx.get(watchdog.url, timeout=5).json() == {"thread": "MainThread"}


def test_classic_handler(tmp_path: Path, watchdog_factory: Factory) -> None:
    fn = write_handler(tmp_path / "fn", "def handle(req):\n    return 'got ' + req\n")
    watchdog = watchdog_factory({"mode": "python", "handler": str(fn)})
    response = httpx.post(watchdog.url, content="é", headers={"Content-Type": "text/x"}, timeout=5)
    assert response.content == "got é\n".encode()
    assert response.headers["content-type"] == "text/x"


def test_max_inflight_and_sigterm_drain(tmp_path: Path, watchdog_factory: Factory, gate: Gate) -> None:
    fn = write_handler(tmp_path / "fn", gate.handler("done"))
    watchdog = watchdog_factory(
        # the grace period (healthcheck_interval) is the window in which /_/health answers 503 before the
        # listener closes: long enough for the check below on a loaded machine
        {"mode": "python", "handler": str(fn), "max_inflight": "1", "healthcheck_interval": "2s"}
    )
    results: dict[str, httpx.Response] = {}
    slow = threading.Thread(target=lambda: results.update(slow=httpx.get(watchdog.url, timeout=10)))
    slow.start()
    wait_for(lambda: gate.entered() == 1, 10, what="the first call inside the handler")
    limited = httpx.get(watchdog.url, timeout=5)
    assert limited.status_code == 429
    assert limited.text == "Concurrent request limit exceeded. Max concurrent requests: 1\n"
    assert limited.headers["x-openfaas-internal"] == "faas-middleware"
    assert httpx.get(watchdog.url + "/_/ready", timeout=5).status_code == 429
    assert httpx.get(watchdog.url + "/_/health", timeout=5).status_code == 200
    watchdog.signal(signal.SIGTERM)
    wait_for(lambda: not watchdog.lock_path.exists(), 5, what="lock file removal")
    assert httpx.get(watchdog.url + "/_/health", timeout=5).status_code == 503
    assert watchdog.process is not None and watchdog.process.poll() is None  # draining: the call is not done
    gate.open()
    assert watchdog.wait(10) == 0
    slow.join(10)
    assert results["slow"].status_code == 200 and results["slow"].text == "done"


def test_ready_path_invokes_the_function(tmp_path: Path, watchdog_factory: Factory) -> None:
    source = "def handle(event, context):\n    return {'statusCode': 202 if event.path == '/warm' else 200}\n"
    fn = write_handler(tmp_path / "fn", source)
    watchdog = watchdog_factory({"mode": "python", "handler": str(fn), "ready_path": "/warm"})
    assert httpx.get(watchdog.url + "/_/ready", timeout=5).status_code == 202


def test_bad_handler_and_bad_config_stop_start_up(tmp_path: Path) -> None:
    fn = write_handler(tmp_path / "fn", "raise RuntimeError('import failed')\n")
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "metrics_port": "0", "port": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "pyfaas.watchdog"],
        env={**base, "mode": "python", "handler": str(fn), "lock_path": str(tmp_path / "l")},
        capture_output=True,
        timeout=20,
    )
    assert result.returncode == 1
    assert b"RuntimeError: import failed" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "pyfaas.watchdog"],
        env={**base, "mode": "python", "max_inflight": "lots"},
        capture_output=True,
        timeout=20,
    )
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "max_inflight" in lines[0]


def test_sync_handlers_run_in_a_bounded_pool_off_the_loop(
    tmp_path: Path, watchdog_factory: Factory, gate: Gate
) -> None:
    fn = write_handler(tmp_path / "fn", gate.handler())
    watchdog = watchdog_factory({"mode": "python", "handler": str(fn), "python_workers": "2"})
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(httpx.get(watchdog.url, timeout=30).status_code))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: gate.entered() == 2, 10, what="both pool threads inside the handler")
    # the event loop stays free while both pool threads are blocked in the handler ...
    assert httpx.get(watchdog.url + "/_/health", timeout=10).status_code == 200
    # ... and the pool is bounded: the other two calls wait for a thread
    assert gate.entered() == 2 and results == []
    gate.open()
    for thread in threads:
        thread.join(30)
    assert results == [200] * 4
    assert gate.entered() == 4


def test_exec_timeout_answers_504(tmp_path: Path, watchdog_factory: Factory, gate: Gate) -> None:
    # Handlers that never finish on their own: the answer can only come from exec_timeout.
    fn = write_handler(tmp_path / "sync", gate.handler("late"))
    watchdog = watchdog_factory({"mode": "python", "handler": str(fn), "exec_timeout": "0.3s"})
    response = httpx.get(watchdog.url, timeout=30)
    assert response.status_code == 504 and response.headers["x-openfaas-internal"] == "of-watchdog"
    assert gate.entered() == 1  # the handler is still blocked: the 504 did not wait for it
    source = "import asyncio\n\nasync def handle(event, context):\n    await asyncio.Event().wait()\n"
    fn = write_handler(tmp_path / "async", source)
    watchdog = watchdog_factory({"mode": "python", "handler": str(fn), "exec_timeout": "0.3s"})
    assert httpx.get(watchdog.url, timeout=30).status_code == 504


def test_python_inline_auto_promotes_and_demotes(tmp_path: Path, watchdog_factory: Factory) -> None:
    source = (
        "import threading, time\n\n"
        "def handle(event, context):\n"
        "    if event.path == '/slow':\n"
        "        time.sleep(0.01)\n"  # slow calls are what promotes/demotes inline mode
        "    return threading.current_thread().name\n"
    )
    fn = write_handler(tmp_path / "fn", source)
    watchdog = watchdog_factory({"mode": "python", "handler": str(fn), "python_inline": "auto"})
    with httpx.Client(base_url=watchdog.url, timeout=5) as client:
        assert client.get("/").text.startswith("handler-")
        # Promotion needs 2,000 consecutive calls each under 0.5 ms; on a loaded machine some are not, so
        # call until it happens rather than a fixed number of times.
        wait_for(lambda: client.get("/").text == "MainThread", 120, interval=0, what="promotion to the loop")
        client.get("/slow")  # 10 ms: demotes if nothing slower already did
        assert client.get("/").text.startswith("handler-")
    wait_for(lambda: "back to the thread pool (demotion 1/3)" in watchdog.log(), 5, what="demotion log line")
    assert "now called on the event loop" in watchdog.log()


def test_unwritable_port_file_stops_start_up(tmp_path: Path) -> None:
    fn = write_handler(tmp_path / "fn", "def handle(event, context):\n    return 'x'\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "mode": "python",
        "handler": str(fn),
        "port": "0",
        "metrics_port": "0",
        "lock_path": str(tmp_path / "lock"),
        "port_file": str(tmp_path / "missing-dir" / "port"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pyfaas.watchdog"], env=env, capture_output=True, timeout=20
    )
    assert result.returncode == 1
    assert b"fatal: cannot write port_file" in result.stdout
    assert not (tmp_path / "lock").exists()


def test_the_python3_http_template_serves(tmp_path: Path, watchdog_factory: Factory) -> None:
    template = REPO_ROOT / "templates" / "python3-http"
    assert (template / "Dockerfile").read_text().count("pyfaas-watchdog") >= 2
    function = shutil.copytree(template / "function", tmp_path / "function")  # no __pycache__ in the tree
    watchdog = watchdog_factory({"mode": "python", "handler": str(function)})
    response = httpx.get(watchdog.url + "/", timeout=5)
    assert (response.status_code, response.text) == (200, "Hello from OpenFaaS!")
