"""CLI test helpers: run ``pyfaas`` in-process or as a real subprocess, and a real platform to point it at.

``run_cli(args, env=..., cwd=...)`` runs the click app in this process with captured stdout/stderr (a fresh
:class:`CliContext` built from ``env`` only, so the test's own environment never leaks in). ``run_pyfaas``
runs ``python -m pyfaas.cli`` as a child process. Both are blocking: from an async test, wrap them in
``asyncio.to_thread`` (an in-process gateway on the test's loop would otherwise never answer).

``Platform`` starts real processes on ephemeral loopback ports: ``nats-server -js`` (optional),
``python -m pyfaas.gateway`` with the local provider (optionally with basic auth and async routes) and
``python -m pyfaas.worker`` (with NATS); ``stop()`` kills them all, and the replicas with the gateway.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

import pyfaas.cli.__main__  # noqa: F401  (registers every command on the group)
from pyfaas.cli.app import cli
from pyfaas.cli.context import CliContext
from pyfaas.cli.output import Output
from tests.support.gateway import CREDENTIALS, free_port, write_credentials
from tests.support.nats import NatsServer

__all__ = ["CREDENTIALS", "CliResult", "Platform", "cli_env", "run_cli", "run_pyfaas", "running_platform"]

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class CliResult:
    code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes = b""

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def assert_one_error(self, *fragments: str) -> str:
        """The run failed with exactly one non-empty stderr line containing every fragment; returns it."""
        lines = self.error_lines()
        assert self.code != 0, f"expected failure, got 0; stdout={self.stdout!r}"
        assert len(lines) == 1, f"expected one error line, got {lines!r}"
        for fragment in fragments:
            assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
        return lines[0]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """A minimal environment for the CLI: its own HOME (so its own ~/.openfaas), nothing from the test run."""
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "")}
    env.update(extra)
    return env


class _Stdin(io.BytesIO):
    def isatty(self) -> bool:
        return False


def run_cli(args: Sequence[str], *, env: Mapping[str, str], cwd: Path, stdin: bytes = b"") -> CliResult:
    """``pyfaas ARGS`` in this process; stdout/stderr captured (stdout as bytes too)."""
    out_buffer, err_buffer = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out_buffer, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err_buffer, encoding="utf-8", write_through=True)
    context = CliContext.from_environ(
        env, cwd, output=Output(stdout, stderr, terminal=False), stdin=_Stdin(stdin)
    )
    code = cli.main(list(args), prog_name="pyfaas", obj=context, standalone_mode=False)
    stdout.flush()
    stderr.flush()
    raw = out_buffer.getvalue()
    return CliResult(
        int(code or 0), raw.decode("utf-8", errors="replace"), err_buffer.getvalue().decode(), raw
    )


def run_pyfaas(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path, stdin: bytes = b"", timeout: float = 60.0
) -> CliResult:
    """``python -m pyfaas.cli ARGS`` as a child process (the real entry point, environment and exit code)."""
    completed = subprocess.run(
        [sys.executable, "-m", "pyfaas.cli", *args],
        input=stdin,
        capture_output=True,
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return CliResult(
        completed.returncode,
        completed.stdout.decode("utf-8", errors="replace"),
        completed.stderr.decode("utf-8", errors="replace"),
        completed.stdout,
    )


@dataclass
class Platform:
    """NATS (optional) + gateway + worker (with NATS) as child processes."""

    root: Path
    auth: bool = False
    with_async: bool = False
    worker_env: dict[str, str] = field(default_factory=dict)
    nats: NatsServer | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, module: str, env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
        with (self.root / log_name).open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", module],
                env={
                    "PATH": os.environ.get("PATH", ""),
                    "PYTHONPATH": str(REPO_ROOT),
                    "PYTHONUNBUFFERED": "1",
                    **env,
                },
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in sorted(self.root.glob("*.log")))

    def start(self, within: float = 30.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        gateway_env = {
            "port": str(self.port),
            "metrics_port": str(free_port()),
            "bind_address": "127.0.0.1",
            "state_dir": str(self.root / "state"),
            "write_timeout": "10s",
        }
        if self.auth:
            gateway_env["basic_auth"] = "true"
            gateway_env["secret_mount_path"] = str(write_credentials(self.root / "gateway-secrets"))
        if self.with_async:
            self.nats = NatsServer(self.root / "nats")
            self.nats.store_dir.mkdir(parents=True, exist_ok=True)
            self.nats.start()
            gateway_env["nats_url"] = self.nats.url
        gateway = self._spawn("pyfaas.gateway", gateway_env, "gateway.log")
        deadline = time.monotonic() + within
        while True:
            if gateway.poll() is not None:
                raise AssertionError(f"gateway exited:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway not healthy in {within}s:\n{self.logs()}")
            time.sleep(0.05)
        if self.with_async and self.nats is not None:
            self._spawn(
                "pyfaas.worker",
                {
                    "nats_url": self.nats.url,
                    "gateway_url": self.url,
                    "metrics_port": "-1",
                    "initial_retry_wait": "100ms",
                    "max_retry_wait": "200ms",
                    "max_retry_attempts": "2",
                    "discovery_interval": "100ms",
                    "idle_poll": "1s",
                    "shutdown_timeout": "2s",
                    **self.worker_env,
                },
                "worker.log",
            )

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        self.processes.clear()
        if self.nats is not None:
            self.nats.kill()


def running_platform(*, auth: bool = False, with_async: bool = False) -> Iterator[Platform]:
    """Generator for a pytest fixture: a started :class:`Platform` in a temporary directory, stopped after."""
    with tempfile.TemporaryDirectory(prefix="pyfaas-cli-") as tmp:
        platform = Platform(Path(tmp), auth=auth, with_async=with_async)
        try:
            platform.start()
            yield platform
        finally:
            platform.stop()
