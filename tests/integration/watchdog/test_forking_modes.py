"""fork (classic), serializing and streaming modes: one real process per request."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.watchdog import WatchdogProcess, wait_for

Factory = Callable[..., WatchdogProcess]

ENV_DUMP = """
import json, os, sys
data = sys.stdin.read()
print(json.dumps({"env": {k: v for k, v in os.environ.items() if k.startswith("Http_")}, "stdin": data}))
"""

SLEEPER = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
print("started", flush=True)
time.sleep(60)  # runs past any timeout under test
"""

FAILER = """
import sys
print("partial output")
print("to stderr", file=sys.stderr)
sys.exit(3)
"""

TICKER = """
import os, sys, time
sys.stdout.write("first\\n"); sys.stdout.flush()
deadline = time.monotonic() + 30
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:  # the test's go-ahead
    time.sleep(0.01)
sys.stdout.write("second\\n"); sys.stdout.flush()
"""


def script(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / name
    path.write_text(source)
    return f"{sys.executable} {path}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes only once reaped; check /proc state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_fork_mode_cgi_environment(tmp_path: Path, watchdog_factory: Factory) -> None:
    watchdog = watchdog_factory({"mode": "fork", "fprocess": script(tmp_path, "env.py", ENV_DUMP)})
    response = httpx.post(
        watchdog.url + "/some/path?a=1&b=2",
        content=b"body!",
        headers={"X-Call-Id": "abc", "Content-Type": "text/plain", "x-multi": "one"},
        timeout=10,
    )
    assert response.status_code == 200
    assert "x-duration-seconds" in response.headers
    assert response.headers["content-type"] == "text/plain"
    data = response.json()
    env = data["env"]
    assert data["stdin"] == "body!"
    assert env["Http_X_Call_Id"] == "abc"
    assert env["Http_Content_Type"] == "text/plain"
    assert env["Http_X_Multi"] == "one"
    assert env["Http_Method"] == "POST"
    assert env["Http_Path"] == "/some/path"
    assert env["Http_Query"] == "a=1&b=2"
    assert env["Http_Host"] == f"127.0.0.1:{watchdog.port}"
    assert env["Http_ContentLength"] == env["Http_Content_Length"] == "5"
    assert httpx.request("OPTIONS", watchdog.url, timeout=5).status_code == 405


def test_fork_mode_nonzero_exit_is_500_with_output(tmp_path: Path, watchdog_factory: Factory) -> None:
    watchdog = watchdog_factory({"mode": "fork", "fprocess": script(tmp_path, "fail.py", FAILER)})
    response = httpx.get(watchdog.url, timeout=10)
    assert response.status_code == 500
    assert response.text.startswith("exit status 3\n")
    assert "partial output" in response.text and "to stderr" in response.text  # combine_output


def test_fork_mode_without_combined_output(tmp_path: Path, watchdog_factory: Factory) -> None:
    watchdog = watchdog_factory(
        {"mode": "fork", "fprocess": script(tmp_path, "fail.py", FAILER), "combine_output": "false"}
    )
    response = httpx.get(watchdog.url, timeout=10)
    assert response.status_code == 500 and "to stderr" not in response.text
    wait_for(lambda: "stderr: to stderr" in watchdog.log(), 5, what="stderr in log")


def test_fork_mode_exec_timeout_408_kills_the_process(tmp_path: Path, watchdog_factory: Factory) -> None:
    pid_file = tmp_path / "pid"
    fprocess = script(tmp_path, "sleep.py", SLEEPER) + f" {pid_file}"
    watchdog = watchdog_factory({"mode": "fork", "fprocess": fprocess, "exec_timeout": "0.5s"})
    response = httpx.get(watchdog.url, timeout=10)  # the script sleeps far longer than the client waits
    assert (response.status_code, response.text) == (408, "Killed process.\n")
    pid = int(pid_file.read_text())
    wait_for(lambda: not alive(pid), 5, what=f"process {pid} to be gone")


def test_fork_mode_marshal_request(tmp_path: Path, watchdog_factory: Factory) -> None:
    watchdog = watchdog_factory({"mode": "fork", "fprocess": "cat", "marshal_request": "true"})
    data = httpx.post(watchdog.url, content=b"hi", headers={"X-A": "1"}, timeout=10).json()
    assert data["body"]["raw"] == "aGk="
    assert data["header"]["X-A"] == ["1"]


def test_serializing_mode(tmp_path: Path, watchdog_factory: Factory) -> None:
    watchdog = watchdog_factory({"mode": "serializing", "fprocess": script(tmp_path, "env.py", ENV_DUMP)})
    response = httpx.post(watchdog.url + "/p?q=1", content=b"in", headers={"Host": "example"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    env = response.json()["env"]
    assert env["Http_Query"] == "q=1" and env["Http_Path"] == "/p"
    assert "Http_Host" not in env and "Http_ContentLength" not in env  # of-watchdog sets neither
    failing = watchdog_factory({"mode": "serializing", "fprocess": script(tmp_path, "fail.py", FAILER)})
    response = httpx.get(failing.url, timeout=10)
    assert (response.status_code, response.text) == (500, "exit status 3")
    wait_for(lambda: "stderr: to stderr" in failing.log(), 5, what="stderr in log")


def test_serializing_exec_timeout_kills(tmp_path: Path, watchdog_factory: Factory) -> None:
    pid_file = tmp_path / "pid"
    fprocess = script(tmp_path, "sleep.py", SLEEPER) + f" {pid_file}"
    watchdog = watchdog_factory({"mode": "serializing", "fprocess": fprocess, "exec_timeout": "0.5s"})
    response = httpx.get(watchdog.url, timeout=10)
    assert (response.status_code, response.text) == (500, "signal: killed")
    pid = int(pid_file.read_text())
    wait_for(lambda: not alive(pid), 5, what=f"process {pid} to be gone")


def test_streaming_chunks_arrive_before_the_function_ends(tmp_path: Path, watchdog_factory: Factory) -> None:
    gate = tmp_path / "gate"
    watchdog = watchdog_factory(
        {
            "mode": "streaming",
            "fprocess": f"{script(tmp_path, 'tick.py', TICKER)} {gate}",
            "content_type": "text/x",
        }
    )
    with httpx.stream("GET", watchdog.url, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/x"
        assert "x-duration-seconds" in response.headers
        chunks = response.iter_raw()
        first = next(chunks)  # the function holds its second line until this one has arrived
        gate.touch()
        rest = b"".join(chunks)
    assert first == b"first\n" and rest == b"second\n"


def test_streaming_exec_timeout_truncates_and_kills(tmp_path: Path, watchdog_factory: Factory) -> None:
    pid_file = tmp_path / "pid"
    fprocess = script(tmp_path, "sleep.py", SLEEPER) + f" {pid_file}"
    watchdog = watchdog_factory({"mode": "streaming", "fprocess": fprocess, "exec_timeout": "0.5s"})
    response = httpx.get(watchdog.url, timeout=10)
    assert (response.status_code, response.content) == (200, b"started\n")
    pid = int(pid_file.read_text())
    wait_for(lambda: not alive(pid), 5, what=f"process {pid} to be gone")


def test_streaming_stdin_streamed_and_body_limit(tmp_path: Path, watchdog_factory: Factory) -> None:
    watchdog = watchdog_factory({"mode": "streaming", "fprocess": "cat", "max_body_bytes": "100"})
    assert httpx.post(watchdog.url, content=b"z" * 100, timeout=10).content == b"z" * 100
    assert httpx.post(watchdog.url, content=b"z" * 101, timeout=10).status_code == 413
    too_big = httpx.post(watchdog.url, content=iter([b"a" * 80, b"b" * 80]), timeout=10)
    assert too_big.status_code == 413 or len(too_big.content) <= 100


@pytest.mark.parametrize("mode", ["fork", "serializing", "streaming"])
def test_missing_program_is_500(mode: str, watchdog_factory: Factory) -> None:
    watchdog = watchdog_factory({"mode": mode, "fprocess": "/nonexistent/program"})
    assert httpx.get(watchdog.url, timeout=10).status_code == 500


def test_fork_mode_without_cgi_headers(tmp_path: Path, watchdog_factory: Factory) -> None:
    watchdog = watchdog_factory(
        {"mode": "fork", "fprocess": script(tmp_path, "env.py", ENV_DUMP), "cgi_headers": "false"}
    )
    data = httpx.post(watchdog.url + "/p?q=1", content=b"x", headers={"X-A": "1"}, timeout=10).json()
    assert data == {"env": {}, "stdin": "x"}
