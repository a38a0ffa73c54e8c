"""Where local mode keeps things in its state directory, and the small records it writes there."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from pyfaas.system.atomic_files import atomic_write
from pyfaas.system.processes import ProcessRecord

__all__ = ["Ports", "RunLock", "StateLayout", "allocate_ports", "port_in_use"]

LOOPBACK = "127.0.0.1"


class StateLayout:
    """Paths inside one state directory (always absolute)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock_file = root / "up.lock"
        self.pid_file = root / "up.pid"
        self.processes_file = root / "processes.json"
        self.ports_file = root / "ports.json"
        self.status_file = root / "status.json"
        self.deployed_file = root / "deployed.json"
        self.nats_dir = root / "nats"
        self.provider_dir = root / "provider"
        self.monitoring_dir = root / "monitoring"
        self.logs_dir = root / "logs"

    @classmethod
    def at(cls, state_dir: str | Path) -> StateLayout:
        return cls(Path(state_dir).expanduser().resolve())

    def log_file(self, service: str) -> Path:
        return self.logs_dir / f"{service}.log"

    def create(self) -> None:
        """The state directory (0700: it holds the admin password) and its subdirectories."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for directory in (self.nats_dir, self.provider_dir, self.monitoring_dir, self.logs_dir):
            directory.mkdir(mode=0o700, exist_ok=True)

    # records ---------------------------------------------------------------------------------------
    def write_json(self, path: Path, data: Any) -> None:
        atomic_write(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), mode=0o600)

    @staticmethod
    def read_json(path: Path) -> Any:
        """The JSON in ``path``, or None when it is missing or unreadable."""
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def supervisor_record(self) -> ProcessRecord | None:
        """The recorded supervisor if that process is still alive (PID and start time both match)."""
        data = self.read_json(self.pid_file)
        try:
            record = ProcessRecord.from_json(data)
        except (TypeError, KeyError, ValueError):
            return None
        return record if record.alive() else None

    def child_records(self) -> dict[str, ProcessRecord]:
        """Recorded children by service name (alive or not)."""
        data = self.read_json(self.processes_file)
        records: dict[str, ProcessRecord] = {}
        if isinstance(data, dict):
            for name, value in data.items():
                with contextlib.suppress(TypeError, KeyError, ValueError):
                    records[name] = ProcessRecord.from_json(value)
        return records

    def ports(self) -> Ports | None:
        data = self.read_json(self.ports_file)
        try:
            return Ports(**data)
        except TypeError:
            return None


class RunLock:
    """An exclusive ``flock`` on ``up.lock`` held for the supervisor's lifetime; the kernel drops it when
    the process dies, so a crashed supervisor never leaves a stale "already running"."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None

    def acquire(self) -> bool:
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        os.set_inheritable(handle.fileno(), False)
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @classmethod
    def is_held(cls, path: Path) -> bool:
        """Whether another process holds the lock (probes by taking and dropping it)."""
        if not path.exists():
            return False
        probe = cls(path)
        if probe.acquire():
            probe.release()
            return False
        return True


@dataclass(frozen=True)
class Ports:
    """The TCP ports of one run on 127.0.0.1 (written to ``ports.json``)."""

    gateway: int
    gateway_metrics: int
    nats: int
    nats_monitoring: int
    worker_metrics: int
    idler_metrics: int
    prometheus: int
    alertmanager: int

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.gateway}"


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def allocate_ports(gateway: int) -> Ports:
    """``gateway`` as given (0 = ephemeral) and every other port ephemeral.

    All sockets are bound at once so no two ports coincide; the kernel does not hand a just-released
    ephemeral port out again at once, which keeps the window before the children bind them small.
    """
    wanted = 8 if gateway == 0 else 7
    sockets = []
    try:
        for _ in range(wanted):
            sock = socket.socket()
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        ports = [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    if gateway:
        ports.insert(0, gateway)
    return Ports(*ports)
