"""Process identity (PID + start time) and termination of whole process trees."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from pyfaas.system.processes import (
    ProcessRecord,
    descendants,
    kill_by_environment,
    kill_tree,
    process_start_time,
    terminate_stale,
)


def _gone(process: subprocess.Popen[bytes]) -> bool:
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_a_record_matches_only_the_same_process() -> None:
    me = ProcessRecord.of(os.getpid())
    assert me is not None and me.alive()
    assert not ProcessRecord(me.pid, me.start_time + 1).alive()  # same PID, another process
    assert ProcessRecord.from_json(me.to_json()) == me


def test_terminate_stale_stops_a_recorded_process() -> None:
    sleeper = subprocess.Popen(["sleep", "30"], start_new_session=True)
    record = ProcessRecord.of(sleeper.pid)
    assert record is not None
    assert terminate_stale([ProcessRecord(sleeper.pid, record.start_time + 1)]) == 0  # a reused PID is spared
    assert sleeper.poll() is None
    assert terminate_stale([record]) == 1
    assert _gone(sleeper)


SPAWNS_GRANDCHILD = (
    "import subprocess, sys, time\n"
    "subprocess.Popen(['sleep', '30'], start_new_session=True)\n"
    "print('spawned', flush=True)\n"
    "time.sleep(30)\n"  # alive until the kill under test
)


def test_kill_tree_reaches_children_in_other_sessions() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", SPAWNS_GRANDCHILD], start_new_session=True, stdout=subprocess.PIPE
    )
    assert parent.stdout is not None and parent.stdout.readline() == b"spawned\n"
    [grandchild] = descendants(parent.pid)
    kill_tree(parent.pid)
    assert _gone(parent)
    deadline = time.monotonic() + 5
    while process_start_time(grandchild) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process_start_time(grandchild) is None


def test_kill_by_environment_finds_orphans() -> None:
    marker = f"port_file=/tmp/test-{os.getpid()}-{time.monotonic_ns()}/r.port"
    name, value = marker.split("=", 1)
    orphan = subprocess.Popen(["sleep", "30"], env={**os.environ, name: value}, start_new_session=True)
    try:
        assert kill_by_environment(marker) == [orphan.pid]
        assert _gone(orphan)
        assert kill_by_environment(marker.rsplit("/", 1)[0], prefix=True) == []
    finally:
        orphan.kill()
        orphan.wait()
