"""Run ``python -m pyfaas.worker`` as a real child process (for SIGKILL / SIGTERM tests and benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["WorkerProcess"]

_REPO = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(self, env: dict[str, str], log_dir: Path, *, cwd: Path = _REPO) -> None:
        self.env = env
        self.log_dir = log_dir
        self.cwd = cwd
        """Checkout whose ``runtime`` package runs (another one for before/after benchmarks)."""
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"worker-{self.starts}.log").open("wb")
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pyfaas.worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(self.cwd),
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait; returns the exit code (None if it had to be killed)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return self.process.returncode
            time.sleep(0.02)
        self.kill()
        return None

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-4000:] for path in sorted(self.log_dir.glob("worker-*.log"))
        )
