"""Reliability-suite helpers: a real gateway process (basic auth, local provider, NATS) to fuzz and abuse.

``gateway_process(tmp, nats_url=...)`` starts ``python -m pyfaas.gateway`` on free loopback ports with basic
auth on and, when ``nats_url`` is given, the async routes; it deploys an ``echo`` python-mode function so
``/function/{name}`` reaches a real replica. Synchronous on purpose: schemathesis and raw-socket tests drive
the gateway from plain threads, and the gateway runs in its own process, so no event loop is shared.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import polling
from tests.support.gateway import CREDENTIALS, GatewayProcess, write_credentials
from tests.support.providers import write_handler

__all__ = ["ECHO_HANDLER", "LiveGateway", "RawResponse", "deploy_python", "gateway_process", "raw_request"]

ECHO_HANDLER = """
def handle(event, context):
    return {"statusCode": 200, "body": event.body, "headers": {"Content-type": "application/octet-stream"}}
"""
"""python3-http echo: the request body back, byte for byte (octet-stream, as the template passes it raw)."""


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(url: str, head: bytes, body: bytes = b"", *, timeout: float = 30.0) -> RawResponse:
    """Send ``head`` (request line and headers, exactly as given) and ``body`` on a fresh connection; read the
    response until the server closes (``Connection: close`` is the caller's to add)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head + body)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        raise AssertionError(f"no HTTP response: {data[:200]!r}")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return RawResponse(int(lines[0].split()[1]), headers, rest)


@dataclass
class LiveGateway:
    process: GatewayProcess
    url: str
    auth: tuple[str, str]
    state_dir: Path

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=self.auth, timeout=30.0, **kwargs)  # type: ignore[arg-type]

    def log_text(self) -> str:
        return self.process.log_path.read_text(errors="replace")

    @property
    def authorization(self) -> str:
        """The admin login as an ``Authorization`` value, for raw requests that write their own head."""
        return "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()

    def alive(self) -> bool:
        """The process runs and ``/healthz`` answers 200."""
        if self.process.process is None or self.process.process.poll() is not None:
            return False
        try:
            return httpx.get(f"{self.url}/healthz", timeout=10.0).status_code == 200
        except httpx.HTTPError:
            return False


def deploy_python(
    gateway: LiveGateway, name: str, handler_dir: Path, *, within: float = 30.0, **fields: object
) -> None:
    """Deploy a python-mode function and wait until a replica is available."""
    env = {"mode": "python", "handler": str(handler_dir), **fields.pop("envVars", {})}  # type: ignore[dict-item]
    spec = {"service": name, "image": "local", "envVars": env, **fields}
    with gateway.client() as client:
        response = client.post("/system/functions", json=spec)
        assert response.status_code == 202, response.text
        wait_available(client, name, within)


def wait_available(client: httpx.Client, name: str, within: float = 30.0) -> None:
    """Until ``/system/function/NAME`` reports an available replica."""

    def available() -> bool:
        status = client.get(f"/system/function/{name}")
        return status.status_code == 200 and status.json().get("availableReplicas", 0) >= 1

    polling.wait_until(available, within, f"{name} to have an available replica", interval=0.05)


@contextlib.contextmanager
def gateway_process(
    tmp: Path,
    *,
    nats_url: str | None = None,
    env: dict[str, str] | None = None,
    echo: bool = True,
    port: int | None = None,
) -> Iterator[LiveGateway]:
    """A gateway process with basic auth (``CREDENTIALS``) on ``tmp/state``; stopped with its replicas."""
    state_dir = tmp / "state"
    secrets = write_credentials(tmp / "gateway-secrets")
    environ = {
        "basic_auth": "true",
        "secret_mount_path": str(secrets),
        "scale_from_zero_timeout": "5s",
        "upstream_timeout": "10s",
        "write_timeout": "5s",
        "LOG_LEVEL": "INFO",
        **({"nats_url": nats_url} if nats_url else {}),
        **(env or {}),
    }
    process = GatewayProcess(state_dir, env=environ)
    if port is not None:  # a port chosen before start-up (e.g. written into a schemathesis config)
        process.port = port
        process.env["port"] = str(port)
    asyncio.run(process.start())
    gateway = LiveGateway(process, process.url, CREDENTIALS, state_dir)
    try:
        if echo:
            deploy_python(gateway, "echo", write_handler(tmp / "echo", ECHO_HANDLER))
        yield gateway
    finally:
        asyncio.run(process.stop())
