"""http mode (reverse proxy to a child app) and static mode, with real processes."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.watchdog import WatchdogProcess, start_watchdog, wait_for

Factory = Callable[..., WatchdogProcess]
APP = Path(__file__).with_name("upstream_app.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_env(port: int, delay: float = 0.0, **extra: str) -> dict[str, str]:
    return {
        "mode": "http",
        "fprocess": f"{sys.executable} {APP} {port} {delay}",
        "upstream_url": f"http://127.0.0.1:{port}",
        **extra,
    }


def test_http_mode_proxies_and_waits_for_the_upstream(tmp_path: Path, watchdog_factory: Factory) -> None:
    port = free_port()
    watchdog = watchdog_factory(http_env(port, delay=0.7, exec_timeout="2s"))
    # healthy means the upstream already accepts connections: the very first call succeeds
    response = httpx.post(
        watchdog.url + "/a/b?x=1&y=%20z", content=b"data", headers={"X-Custom": "c"}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers["x-upstream"] == "yes"
    assert "x-duration-seconds" in response.headers
    assert response.json() == {
        "method": "POST",
        "path": "/a/b?x=1&y=%20z",
        "host": f"127.0.0.1:{watchdog.port}",
        "custom": "c",
        "body": "data",
        "length": "4",
    }
    chunked = httpx.put(watchdog.url + "/c", content=iter([b"ab", b"cd"]), timeout=10)
    assert chunked.json()["body"] == "abcd"
    assert chunked.json()["length"] is None  # streamed upstream as it arrived
    redirect = httpx.get(watchdog.url + "/redirect", timeout=10)
    assert redirect.status_code == 302 and redirect.headers["location"] == "/elsewhere"
    wait_for(lambda: "stdout: upstream listening" in watchdog.log(), 5, what="child stdout in log")
    wait_for(lambda: "GET /redirect - 302 Found" in watchdog.log(), 5, what="access log")

    # X-Timeout shortens exec_timeout (2s, which /slow?s=1.5 would meet): 504 with the internal header
    timed_out = httpx.get(watchdog.url + "/slow?s=1.5", headers={"X-Timeout": "300ms"}, timeout=10)
    assert timed_out.status_code == 504
    assert timed_out.headers["x-openfaas-internal"] == "of-watchdog"
    assert httpx.get(watchdog.url + "/slow?s=3", timeout=10).status_code == 504  # exec_timeout 2s

    broken = httpx.get(watchdog.url + "/crash", timeout=10)
    assert broken.status_code == 500 and broken.headers["x-openfaas-internal"] == "of-watchdog"


def test_http_mode_streams_server_sent_events(tmp_path: Path, watchdog_factory: Factory) -> None:
    port = free_port()
    watchdog = watchdog_factory(http_env(port))
    gate = tmp_path / "gate"
    events: list[str] = []
    url = f"{watchdog.url}/sse?gate={gate}"
    with httpx.stream("GET", url, headers={"Accept": "text/event-stream"}, timeout=10) as r:
        assert r.headers["content-type"] == "text/event-stream"
        for line in r.iter_lines():
            if line.startswith("data:"):
                events.append(line)
                gate.touch()  # the upstream holds the rest until the first event got here: not buffered
    assert events == ["data: 0", "data: 1", "data: 2"]


def test_http_mode_assigns_each_instance_a_port_when_the_upstream_port_is_0(
    watchdog_factory: Factory,
) -> None:
    env = {"mode": "http", "fprocess": f"{sys.executable} {APP} env", "upstream_url": "http://127.0.0.1:0"}
    first, second = watchdog_factory(env), watchdog_factory(env)  # two instances, no port clash
    for watchdog in (first, second):
        response = httpx.post(watchdog.url + "/p", content=b"x", timeout=10)
        assert response.status_code == 200 and response.json()["body"] == "x"
        assert response.headers["x-upstream"] == "yes"


def test_http_mode_exits_when_the_child_exits(watchdog_factory: Factory) -> None:
    port = free_port()
    watchdog = watchdog_factory(http_env(port))
    httpx.get(watchdog.url + "/exit", timeout=10)
    assert watchdog.wait(10) == 1
    assert "fatal: function process" in watchdog.log()


def test_http_mode_stops_its_child_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    watchdog = start_watchdog(tmp_path, http_env(port))
    try:
        watchdog.signal()
        assert watchdog.wait(10) == 0
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0  # the child is gone
    finally:
        watchdog.kill()


def test_static_mode(tmp_path: Path, watchdog_factory: Factory) -> None:
    root = tmp_path / "public"
    (root / "docs").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "docs" / "a.txt").write_text("alpha")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    watchdog = watchdog_factory({"mode": "static", "static_path": str(root)})
    assert httpx.get(watchdog.url + "/", timeout=5).text == "<h1>home</h1>"
    response = httpx.get(watchdog.url + "/docs/a.txt", timeout=5)
    assert response.text == "alpha" and "x-duration-seconds" in response.headers
    assert httpx.get(watchdog.url + "/missing", timeout=5).status_code == 404
    assert httpx.get(watchdog.url + "/escape", timeout=5).status_code == 404
    with socket.create_connection(("127.0.0.1", watchdog.port), timeout=5) as sock:
        sock.sendall(b"GET /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(4096):
            raw += chunk
    assert b"secret" not in raw.split(b"\r\n\r\n", 1)[-1]
    assert httpx.post(watchdog.url + "/", timeout=5).status_code == 405
