"""Settings that change behaviour across modes: lock suppression, metrics listener, log prefixes."""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.watchdog import WatchdogProcess, wait_for, write_handler

Factory = Callable[..., WatchdogProcess]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_suppress_lock_and_metrics_listener(tmp_path: Path, watchdog_factory: Factory) -> None:
    fn = write_handler(tmp_path / "fn", "def handle(event, context):\n    return 'x'\n")
    metrics_port = free_port()
    watchdog = watchdog_factory(
        {"mode": "python", "handler": str(fn), "suppress_lock": "true", "metrics_port": str(metrics_port)}
    )
    assert not watchdog.lock_path.exists()
    assert httpx.get(watchdog.url + "/_/health", timeout=5).status_code == 200
    httpx.post(watchdog.url + "/", timeout=5)
    metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    assert re.search(r'^http_requests_total\{code="200",method="post"\} 1\.0$', metrics, re.M)
    assert httpx.get(f"http://127.0.0.1:{metrics_port}/other", timeout=5).status_code == 404


def test_prefix_logs_false_writes_function_lines_as_they_are(
    tmp_path: Path, watchdog_factory: Factory
) -> None:
    script = tmp_path / "err.py"
    script.write_text("import sys\nprint('raw line', file=sys.stderr)\nprint('out')\n")
    watchdog = watchdog_factory(
        {"mode": "serializing", "fprocess": f"{sys.executable} {script}", "prefix_logs": "false"}
    )
    assert httpx.get(watchdog.url, timeout=10).text == "out\n"
    wait_for(lambda: "GET / - 200" in watchdog.log(), 5, what="access log line")
    assert re.search(r"^raw line$", watchdog.log(), re.M)
    assert re.search(r"^\S+Z GET / - 200 - ContentLength: 4B", watchdog.log(), re.M)


def test_http_mode_buffered_request_body(tmp_path: Path, watchdog_factory: Factory) -> None:
    port = free_port()
    app = Path(__file__).with_name("upstream_app.py")
    watchdog = watchdog_factory(
        {
            "mode": "http",
            "fprocess": f"{sys.executable} {app} {port}",
            "upstream_url": f"http://127.0.0.1:{port}",
            "buffer_http": "true",
        }
    )
    response = httpx.post(watchdog.url + "/b", content=iter([b"chunk1", b"chunk2"]), timeout=10)
    assert response.json()["body"] == "chunk1chunk2"
    assert response.json()["length"] == "12"  # buffered: sent upstream with a Content-Length
