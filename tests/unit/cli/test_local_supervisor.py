"""The process supervisor with real child processes: readiness, crash restarts, give-up codes, stopping."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from pyfaas.cli.local.service_supervisor import Backoff, ServiceFailed, ServiceUnavailable, Supervisor
from pyfaas.cli.local.services import ServiceSpec
from pyfaas.system.processes import ProcessRecord
from tests.support.async_calls import until


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _http_server(name: str = "web", *, ignore_term: bool = False, grace: float = 5.0) -> ServiceSpec:
    port = _free_port()
    prelude = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " if ignore_term else ""
    code = (
        prelude + "import http.server as h; "
        f"h.HTTPServer(('127.0.0.1', {port}), h.SimpleHTTPRequestHandler).serve_forever()"
    )
    return ServiceSpec(
        name=name,
        title=name,
        argv=(sys.executable, "-c", code),
        env={"PATH": os.environ.get("PATH", "")},
        ready_urls=(f"http://127.0.0.1:{port}/",),
        stop_grace=grace,
    )


def _exiting(code: int) -> ServiceSpec:
    return ServiceSpec(
        name="bad",
        title="bad",
        argv=(sys.executable, "-c", f"print('cannot start: reason {code}'); raise SystemExit({code})"),
        env={},
        ready_urls=("http://127.0.0.1:9/",),
        unavailable_codes=frozenset({3}),
    )


def _supervisor(tmp_path: Path, notes: list[str], records: list[dict[str, ProcessRecord]]) -> Supervisor:
    return Supervisor(
        tmp_path,
        cwd=tmp_path,
        on_change=records.append,
        notify=notes.append,
        backoff=Backoff(first=0.1, ceiling=0.4),
        ready_timeout=20,
    )


def test_backoff_doubles_to_the_ceiling() -> None:
    backoff = Backoff(first=0.5, ceiling=4.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


async def test_a_crashed_child_is_restarted_and_stop_ends_it(tmp_path: Path) -> None:
    notes: list[str] = []
    records: list[dict[str, ProcessRecord]] = []
    supervisor = _supervisor(tmp_path, notes, records)
    await supervisor.start(_http_server())
    first = supervisor.records()["web"]
    assert records[-1] == {"web": first}
    os.kill(first.pid, signal.SIGKILL)
    await until(lambda: supervisor.restarts("web") > 0, 10, "the killed child restarted")
    second = supervisor.records()["web"]
    assert second.pid != first.pid and second.alive() and records[-1] == {"web": second}
    assert any("exited with code -9" in note for note in notes) and any("restarted" in n for n in notes)
    await supervisor.stop(["web"])
    assert not second.alive()
    assert "start #2 of web" in (tmp_path / "web.log").read_text()


async def test_a_child_ignoring_sigterm_is_killed_after_its_grace(tmp_path: Path) -> None:
    notes: list[str] = []
    supervisor = _supervisor(tmp_path, notes, [])
    await supervisor.start(_http_server(ignore_term=True, grace=0.5))
    record = supervisor.records()["web"]
    await supervisor.stop(["web"])
    assert not record.alive() and any("did not stop" in note for note in notes)


async def test_exit_codes_at_start(tmp_path: Path) -> None:
    supervisor = _supervisor(tmp_path, [], [])
    with pytest.raises(ServiceUnavailable):
        await supervisor.start(_exiting(3))
    with pytest.raises(ServiceFailed, match=r"bad exited with code 1: .*cannot start: reason 1"):
        await supervisor.start(_exiting(1))
    assert supervisor.records() == {}


def test_a_large_log_is_rotated_at_start(tmp_path: Path) -> None:
    from pyfaas.cli.local.service_supervisor import _rotate

    log = tmp_path / "web.log"
    log.write_text("x" * 20)
    _rotate(log, limit=100)
    assert log.exists()
    _rotate(log, limit=10)
    assert not log.exists() and (tmp_path / "web.log.1").read_text() == "x" * 20
    _rotate(tmp_path / "missing.log")  # nothing to rotate is fine
