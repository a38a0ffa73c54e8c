"""A whole local platform for tests: ``pyfaas up --detach`` in a temporary state directory, ``pyfaas down``.

Usage::

    from tests.support.platform import running_platform

    def test_x(tmp_path: Path) -> None:
        with running_platform(tmp_path / "state", cwd=folder_with_stack_yml) as platform:
            with platform.client() as client:
                client.get("/system/functions")

or the module-scoped fixture ``local_platform`` (the bundled examples, no Prometheus) re-exported into a test
module. Every port is ephemeral (``--port 0``). On exit the platform is stopped with ``pyfaas down`` and the
helper checks that no process of it is left: every PID it recorded (supervisor, children, replicas) and every
process carrying the state directory's marker; survivors are killed and reported as a test failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from pyfaas.system.processes import ProcessRecord
from tests.support import polling

__all__ = [
    "LocalPlatform",
    "local_platform",
    "marked_processes",
    "pyfaas",
    "running_platform",
    "wait_until",
]

ROOT = Path(__file__).resolve().parents[2]
UP_TIMEOUT = 120.0


def pyfaas(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = UP_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pyfaas.cli ARGS`` (the ``pyfaas`` command) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "pyfaas.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def marked_processes(state_dir: Path) -> list[ProcessRecord]:
    """Live processes whose environment names this state directory (services and their children, the
    provider's zygote and the replicas it forks)."""
    root = state_dir.resolve()
    needles = (f"PYFAAS_UP_STATE={root}".encode(), f"PYFAAS_STATE_DIR={root / 'provider'}".encode())
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
        except OSError:
            continue
        if any(entry in needles for entry in environ) and (record := ProcessRecord.of(int(name))):
            found.append(record)
    return found


def wait_until(predicate: Callable[[], object], timeout: float, message: str, interval: float = 0.1) -> None:
    """Poll ``predicate()`` until it is true; fail with ``message`` after ``timeout`` seconds."""
    try:
        polling.wait_until(predicate, timeout, interval=interval)
    except polling.PollTimeout:
        pytest.fail(f"timed out after {timeout:.0f}s: {message}")


@dataclass
class LocalPlatform:
    state_dir: Path
    cwd: Path
    up_output: str
    seen: dict[int, ProcessRecord] = field(default_factory=dict)
    """Every process of the platform observed so far (by PID), checked dead after ``down``."""

    @property
    def ports(self) -> dict[str, int]:
        data: dict[str, int] = json.loads((self.state_dir / "ports.json").read_text())
        return data

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def user(self) -> str:
        return (self.state_dir / "basic-auth-user").read_text().strip()

    @property
    def password(self) -> str:
        return (self.state_dir / "basic-auth-password").read_text().strip()

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.gateway_url, auth=(self.user, self.password), timeout=timeout, trust_env=False
        )

    def supervisor(self) -> ProcessRecord | None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            return ProcessRecord.from_json(json.loads((self.state_dir / "up.pid").read_text()))
        return None

    def children(self) -> dict[str, ProcessRecord]:
        data = json.loads((self.state_dir / "processes.json").read_text())
        return {name: ProcessRecord.from_json(value) for name, value in data.items()}

    def replicas(self) -> list[ProcessRecord]:
        """Replica processes recorded by the local provider (``provider/run/<ns>/<fn>/<replica>.pid``)."""
        records = []
        for path in (self.state_dir / "provider" / "run").glob("*/*/*.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid, start = path.read_text().split()
                records.append(ProcessRecord(int(pid), int(start)))
        return records

    def snapshot(self) -> list[ProcessRecord]:
        """Record every live process of the platform now (to check after ``down``)."""
        records = [*self.children().values(), *self.replicas(), *marked_processes(self.state_dir)]
        if (supervisor := self.supervisor()) is not None:
            records.append(supervisor)
        for record in records:
            self.seen.setdefault(record.pid, record)
        return records

    def down(self, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
        self.snapshot()
        return pyfaas("down", "--state-dir", str(self.state_dir), cwd=self.cwd, timeout=timeout)

    def survivors(self) -> list[ProcessRecord]:
        alive = {r.pid: r for r in self.seen.values() if r.alive()}
        alive.update({r.pid: r for r in marked_processes(self.state_dir)})
        return list(alive.values())


def _kill(records: Sequence[ProcessRecord]) -> None:
    for record in records:
        if record.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(record.pid, signal.SIGKILL)


def start_platform(
    state_dir: Path, *, cwd: Path, args: Sequence[str] = (), env: dict[str, str] | None = None
) -> LocalPlatform:
    """``pyfaas up --detach --port 0`` (plus ``args``); fails the test with its output if it fails."""
    result = pyfaas("up", "--detach", "--port", "0", "--state-dir", str(state_dir), *args, cwd=cwd, env=env)
    if result.returncode != 0:
        log = state_dir / "logs" / "up.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        pyfaas("down", "--state-dir", str(state_dir), cwd=cwd)
        pytest.fail(f"pyfaas up failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{tail}")
    platform = LocalPlatform(state_dir=state_dir.resolve(), cwd=cwd, up_output=result.stdout + result.stderr)
    platform.snapshot()
    return platform


def stop_platform(platform: LocalPlatform) -> None:
    """``pyfaas down``, then fail if any process of the platform is still alive (after killing it)."""
    result = platform.down()
    survivors = platform.survivors()
    _kill(survivors)
    assert result.returncode == 0, f"pyfaas down failed: {result.stdout}{result.stderr}"
    assert not survivors, f"processes left after pyfaas down: {[r.pid for r in survivors]}"


@contextlib.contextmanager
def running_platform(
    state_dir: Path,
    *,
    cwd: Path | None = None,
    args: Sequence[str] = ("--no-monitoring",),
    env: dict[str, str] | None = None,
) -> Iterator[LocalPlatform]:
    """A detached platform for the duration of the block; ``cwd`` holds the stack to deploy (default: an
    empty folder, so the bundled examples are deployed)."""
    with contextlib.ExitStack() as stack:
        if cwd is None:
            cwd = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pyfaas-cwd-")))
        platform = start_platform(state_dir, cwd=cwd, args=args, env=env)
        try:
            yield platform
        finally:
            stop_platform(platform)


@pytest.fixture(scope="module")
def local_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """The bundled examples on a detached platform without Prometheus, shared by a test module."""
    with running_platform(tmp_path_factory.mktemp("pyfaas-platform") / "state") as platform:
        yield platform
