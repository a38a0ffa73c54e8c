"""Start real watchdog processes on ephemeral loopback ports for tests and benchmarks.

    def test_x(watchdog_factory):
        wd = watchdog_factory({"mode": "python", "handler": str(fn_dir)})
        httpx.get(wd.url + "/")

Every process is started in its own session and killed (whole group) at teardown.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import polling

__all__ = ["REPO_ROOT", "WatchdogProcess", "start_watchdog", "wait_for", "watchdog_factory", "write_handler"]

REPO_ROOT = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG = 1


def wait_for(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.01, what: str = "condition"
) -> None:
    """Poll ``predicate()`` until truthy, or fail after ``timeout`` seconds (:func:`polling.wait_until`)."""
    polling.wait_until(predicate, timeout, what, interval=interval)


@dataclass
class WatchdogProcess:
    process: subprocess.Popen[bytes]
    port: int
    lock_path: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGTERM (so the watchdog stops its own children), then SIGKILL the group if still running."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, so a killed pytest leaves no
    watchdog behind (they run in their own sessions)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def write_handler(directory: Path, source: str) -> Path:
    """Write ``handler.py`` with ``source`` into ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "handler.py").write_text(source)
    return directory


def start_watchdog(
    tmp_path: Path,
    env: Mapping[str, str],
    *,
    wait_healthy: bool = True,
    timeout: float = 20.0,
    argv: tuple[str, ...] = (),
) -> WatchdogProcess:
    """Start ``python -m pyfaas.watchdog`` with ``env`` on top of a minimal environment (ephemeral port,
    no metrics listener, a private lock file); wait for the port file and, by default, for health."""
    index = len(list(tmp_path.glob("wd-*.log")))
    log_path = tmp_path / f"wd-{index}.log"
    port_file = tmp_path / f"wd-{index}.port"
    lock_path = tmp_path / f"wd-{index}.lock"
    full_env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO_ROOT),
        "TMPDIR": str(tmp_path),
        "port": "0",
        "metrics_port": "0",
        "port_file": str(port_file),
        "lock_path": str(lock_path),
        "bind_address": "127.0.0.1",
        "healthcheck_interval": "0",
        "write_timeout": "5s",
    }
    full_env.update(env)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pyfaas.watchdog", *argv],
            env=full_env,
            cwd=str(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    watchdog = WatchdogProcess(process, 0, lock_path, log_path, full_env)

    def port_known() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"watchdog exited with {process.returncode}:\n{watchdog.log()}")
        return port_file.exists()

    try:
        wait_for(port_known, timeout, what="the watchdog's port file")
        watchdog.port = int(port_file.read_text().strip())
        if wait_healthy:
            wait_for(lambda: healthy(watchdog), timeout, what="the watchdog to be healthy")
    except BaseException:
        watchdog.kill()
        raise
    return watchdog


def healthy(watchdog: WatchdogProcess) -> bool:
    if watchdog.process.poll() is not None:
        raise RuntimeError(f"watchdog exited with {watchdog.process.returncode}:\n{watchdog.log()}")
    try:
        return httpx.get(watchdog.url + "/_/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def watchdog_factory(tmp_path: Path) -> Iterator[object]:
    """A function ``(env, **kwargs) -> WatchdogProcess``; all started watchdogs are killed afterwards."""
    started: list[WatchdogProcess] = []

    def factory(env: Mapping[str, str], **kwargs: object) -> WatchdogProcess:
        watchdog = start_watchdog(tmp_path, env, **kwargs)  # type: ignore[arg-type]
        started.append(watchdog)
        return watchdog

    yield factory
    for watchdog in started:
        watchdog.kill()
