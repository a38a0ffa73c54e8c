"""Local replicas listen on loopback only: a function is reached through the gateway (auth, metrics, routing),
never directly from the network. A fault-isolation check: a client that bypasses the gateway bypasses
everything the gateway guarantees."""

from __future__ import annotations

from pathlib import Path

from tests.support.process_stack import ECHO_HANDLER
from tests.support.providers import local_provider, python_function, write_handler

LISTEN = "0A"


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in ``/proc/net/tcp``) of the sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].rpartition(":")
            if fields[3] == LISTEN and int(hex_port, 16) == port:
                found.add(address)
    return found


async def test_replicas_listen_on_loopback_only(tmp_path: Path) -> None:
    handler = write_handler(tmp_path / "handler", ECHO_HANDLER)
    async with local_provider(tmp_path / "state") as provider:
        await provider.deploy(python_function("echo", handler))
        [replica] = await provider.wait_for_replicas("echo", "openfaas-fn", within=30.0)
        port = int(replica.url.rsplit(":", 1)[1].split("/")[0])
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and no wildcard listener
