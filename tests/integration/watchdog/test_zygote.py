"""The warm fork server: spawn a replica over the socket, it serves HTTP, its exit is reported."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.watchdog import REPO_ROOT, wait_for, write_handler


class ZygoteClient:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(str(path))
        self.buffer = b""

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        return self.receive()

    def receive(self) -> dict[str, Any]:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("zygote closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        result: dict[str, Any] = json.loads(line)
        return result


@pytest.fixture
def zygote(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    path = tmp_path / "zygote.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "pyfaas.watchdog.zygote_server", "--socket", str(path)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_for(path.exists, 20, what="the zygote socket")
        yield process, path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def replica_env(tmp_path: Path, fn: Path, name: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "mode": "python",
        "handler": str(fn),
        "port": "0",
        "metrics_port": "0",
        "port_file": str(tmp_path / f"{name}.port"),
        "lock_path": str(tmp_path / f"{name}.lock"),
        "bind_address": "127.0.0.1",
        "healthcheck_interval": "0",
        "HOSTNAME": name,
    }


def test_spawn_serve_and_exit_event(tmp_path: Path, zygote: tuple[subprocess.Popen[bytes], Path]) -> None:
    _process, path = zygote
    fn = write_handler(
        tmp_path / "fn",
        "import os\n\ndef handle(event, context):\n    return context.hostname + ' ' + os.getcwd()\n",
    )
    client = ZygoteClient(path)
    assert client.call({"op": "ping"}) == {"ok": True}
    timings = []
    for index in range(3):
        name = f"replica{index}"
        env = replica_env(tmp_path, fn, name)
        port_file = Path(env["port_file"])
        started = time.perf_counter()
        reply = client.call(
            {"op": "spawn", "env": env, "cwd": str(tmp_path), "log": str(tmp_path / f"{name}.log")}
        )
        assert reply["ok"] is True
        pid = reply["pid"]
        wait_for(port_file.exists, 10, interval=0.001, what="port file")
        connection = http.client.HTTPConnection("127.0.0.1", int(port_file.read_text()), timeout=5)
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read().decode()
        timings.append(time.perf_counter() - started)
        connection.close()
        assert response.status == 200
        assert body == f"{name} {tmp_path}"
        os.killpg(pid, signal.SIGTERM)
        event = client.receive()
        assert event == {"event": "exit", "pid": pid, "code": 0}
        log = (tmp_path / f"{name}.log").read_text()
        assert "GET / - 200" in log
    print(f"\nzygote fork-to-first-response: {', '.join(f'{t * 1000:.1f} ms' for t in timings)}")
    bad = client.call({"op": "nope"})
    assert bad["ok"] is False


def test_exit_code_of_a_failing_replica(tmp_path: Path, zygote: tuple[subprocess.Popen[bytes], Path]) -> None:
    _, path = zygote
    client = ZygoteClient(path)
    env = replica_env(tmp_path, tmp_path / "missing", "bad")
    reply = client.call({"op": "spawn", "env": env, "cwd": str(tmp_path), "log": str(tmp_path / "bad.log")})
    assert reply["ok"] is True
    assert client.receive() == {"event": "exit", "pid": reply["pid"], "code": 1}
    assert "no handler.py" in (tmp_path / "bad.log").read_text()


def test_zygote_exits_with_its_parent(zygote: tuple[subprocess.Popen[bytes], Path]) -> None:
    process, path = zygote
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(10) == 0
    assert not path.exists()


def test_zygote_exits_when_its_socket_is_removed(zygote: tuple[subprocess.Popen[bytes], Path]) -> None:
    process, path = zygote
    path.unlink()
    assert process.wait(10) == 0
