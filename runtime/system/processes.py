"""Process identity and termination helpers (Linux ``/proc``).

A PID alone does not identify a process: after a provider restart the PID recorded for an old replica may
belong to something else. A ``ProcessRecord`` pairs the PID with the process start time (``/proc/PID/stat``
field 22), and only a process matching both is ever signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ProcessRecord",
    "descendants",
    "group_alive",
    "kill_by_environment",
    "kill_group",
    "kill_tree",
    "process_start_time",
    "terminate_stale",
]


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None if there is no such (live) process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces or parentheses: split after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    if fields[0] == b"Z":  # a zombie has exited already
        return None
    return int(fields[19])


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    pid: int
    start_time: int

    @classmethod
    def of(cls, pid: int) -> ProcessRecord | None:
        started = process_start_time(pid)
        return None if started is None else cls(pid, started)

    def alive(self) -> bool:
        return process_start_time(self.pid) == self.start_time

    def to_json(self) -> dict[str, int]:
        return {"pid": self.pid, "start_time": self.start_time}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(int(data["pid"]), int(data["start_time"]))


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group led by ``pid`` (the process and everything it started, when it runs in a
    session of its own), ignoring a gone group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def terminate_stale(records: list[ProcessRecord], *, grace: float = 2.0) -> int:
    """Stop processes left by an earlier provider run: SIGTERM to all, then SIGKILL to the trees of those
    still running after ``grace`` seconds. Returns how many were alive; a record whose PID now belongs to
    another process (different start time) is left alone.

    Blocking on purpose: it runs once at start-up, before any replica of this run exists.
    """
    alive = [record for record in records if record.alive()]
    for record in alive:
        kill_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(record.alive() for record in alive):
        time.sleep(0.02)
    for record in alive:
        if record.alive() or group_alive(record.pid):
            kill_tree(record.pid)
    return len(alive)


def _proc_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children first), found through the parent links in ``/proc``."""
    children: dict[int, list[int]] = {}
    for candidate in _proc_pids():
        try:
            with open(f"/proc/{candidate}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        parent = int(stat[stat.rfind(b")") + 2 :].split()[1])
        children.setdefault(parent, []).append(candidate)
    found: list[int] = []
    frontier = [pid]
    while frontier:
        found.extend(kids := [kid for parent in frontier for kid in children.get(parent, [])])
        frontier = kids
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``'s process group and every descendant, including those in sessions of their own
    (the watchdog runs each forked request in a new session so that a timeout can kill its group)."""
    for descendant in descendants(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(descendant), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(descendant, signal.SIGKILL)
    kill_group(pid, signal.SIGKILL)


def kill_by_environment(entry: str, *, prefix: bool = False) -> list[int]:
    """SIGKILL every process whose environment holds ``entry`` (or an entry starting with it).

    Processes forked per request inherit the replica's environment, so this finds them even after their
    watchdog died and they were re-parented to init.
    """
    needle = entry.encode()
    killed = []
    for pid in _proc_pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
        except OSError:
            continue
        if any(item.startswith(needle) if prefix else item == needle for item in environ):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed
