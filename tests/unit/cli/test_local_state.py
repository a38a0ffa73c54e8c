"""Local mode's state directory pieces: ports, the run lock, process records, admin credentials."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pyfaas.cli.local.credentials import ensure_credentials
from pyfaas.cli.local.layout import RunLock, StateLayout, allocate_ports, port_in_use
from pyfaas.system.processes import ProcessRecord


def test_ports_are_distinct_and_the_gateway_port_is_kept() -> None:
    ephemeral = allocate_ports(0)
    values = list(ephemeral.to_json().values())
    assert len(set(values)) == len(values) == 8 and all(values)
    fixed = allocate_ports(18080)
    assert fixed.gateway == 18080 and fixed.gateway_url == "http://127.0.0.1:18080"
    assert 18080 not in list(fixed.to_json().values())[1:]


def test_port_in_use() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert port_in_use(sock.getsockname()[1])
    assert not port_in_use(allocate_ports(0).gateway)


def test_run_lock_is_held_while_its_process_lives(tmp_path: Path) -> None:
    path = tmp_path / "up.lock"
    assert not RunLock.is_held(path)
    lock = RunLock(path)
    assert lock.acquire()
    assert RunLock.is_held(path) and not RunLock(path).acquire()
    lock.release()
    assert not RunLock.is_held(path)

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, time; from pyfaas.cli.local.layout import RunLock; "
            f"lock = RunLock(pathlib.Path({str(path)!r})); assert lock.acquire(); "
            "print('held', flush=True); time.sleep(60)",  # holds the lock until the test kills it
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert RunLock.is_held(path)
    finally:
        holder.kill()
        holder.wait()
    assert not RunLock.is_held(path)  # the kernel dropped the lock of the dead process


def test_process_records(tmp_path: Path) -> None:
    layout = StateLayout.at(tmp_path / "state")
    layout.create()
    assert layout.root.stat().st_mode & 0o777 == 0o700
    assert layout.supervisor_record() is None and layout.child_records() == {} and layout.ports() is None
    own = ProcessRecord.of(os.getpid())
    assert own is not None
    layout.write_json(layout.pid_file, own.to_json())
    assert layout.supervisor_record() == own
    layout.write_json(layout.pid_file, {"pid": os.getpid(), "start_time": own.start_time + 1})
    assert layout.supervisor_record() is None  # same PID, another process
    layout.pid_file.write_text("garbage")
    assert layout.supervisor_record() is None
    layout.write_json(layout.processes_file, {"nats": own.to_json(), "bad": {"pid": "x"}})
    assert layout.child_records() == {"nats": own}
    ports = allocate_ports(0)
    layout.write_json(layout.ports_file, ports.to_json())
    assert layout.ports() == ports


def test_password_generated_once_kept_private_and_overridable(tmp_path: Path) -> None:
    first = ensure_credentials(tmp_path)
    assert first.generated and first.user == "admin" and len(first.password) >= 20
    password_file = tmp_path / "basic-auth-password"
    assert password_file.read_text() == first.password
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "basic-auth-user").stat().st_mode & 0o777 == 0o600

    again = ensure_credentials(tmp_path)
    assert again.password == first.password and not again.generated
    assert ensure_credentials(tmp_path, "   ").password == first.password  # blank is no override

    chosen = ensure_credentials(tmp_path, "correct horse\n")
    assert chosen.password == "correct horse" and password_file.read_text() == "correct horse"
    assert ensure_credentials(tmp_path).password == "correct horse"

    password_file.chmod(0o644)
    before = time.time()
    ensure_credentials(tmp_path)
    assert password_file.stat().st_mode & 0o777 == 0o600 and password_file.stat().st_mtime >= before - 1
