"""Hypothesis-driven raw HTTP requests: header values the gateway parses (``X-Callback-Url``, ``X-Call-Id``,
``X-Timeout``, ``Authorization``, ``Content-Length``, ``Content-Type``) never get a 5xx and never hang it.

Sent byte for byte on a socket (an HTTP client would refuse or normalise many of them) to a real gateway
process; ``Content-Length`` is either garbage (refused by the parser) or no larger than the body sent.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fuzz import LiveGateway, gateway_process, raw_request
from tests.support.nats import NatsServer, nats_server

__all__ = ["nats_server"]

pytestmark = pytest.mark.timeout(120)

header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
targets = st.sampled_from(
    [
        ("POST", "/function/echo"),
        ("GET", "/function/echo/sub/path?q=1"),
        ("POST", "/async-function/echo"),
        ("POST", "/system/functions"),
        ("POST", "/system/secrets"),
        ("POST", "/system/alert"),
        ("GET", "/system/logs?name=echo&tail=1"),
        ("GET", "/healthz"),
    ]
)
header_names = st.sampled_from(
    ["X-Callback-Url", "X-Call-Id", "X-Timeout", "Authorization", "Content-Type", "Accept", "X-Forwarded-For"]
)


@pytest.fixture(scope="module")
def gateway(nats_server: NatsServer) -> Iterator[LiveGateway]:
    with (
        tempfile.TemporaryDirectory(prefix="pyfaas-raw-") as tmp,
        gateway_process(Path(tmp), nats_url=nats_server.url) as running,
    ):
        yield running
        assert running.alive()
        assert "Traceback" not in running.log_text(), running.log_text()[-3000:]


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    target=targets,
    headers=st.lists(st.tuples(header_names, header_text), max_size=4),
    body=st.binary(max_size=64),
    length=st.none() | header_text | st.integers(0, 64).map(str),
    authorized=st.booleans(),
)
def test_header_values_never_get_a_server_error(
    gateway: LiveGateway,
    target: tuple[str, str],
    headers: list[tuple[str, str]],
    body: bytes,
    length: str | None,
    authorized: bool,
) -> None:
    method, path = target
    lines = [f"{method} {path} HTTP/1.1", "Host: x", "Connection: close"]
    if authorized:
        lines.append(f"Authorization: {gateway.authorization}")
    lines += [f"{name}: {value}" for name, value in headers]
    if length is not None and length.strip().isdigit() and int(length) > len(body):
        length = str(len(body))  # never declare more than is sent: the server would wait for it
    lines.append(f"Content-Length: {len(body) if length is None else length}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    if length is not None and length.strip().isdigit():
        body = body[: int(length)]
    response = raw_request(gateway.url, head, body, timeout=20.0)
    assert response.status < 500, f"{head!r}: {response.status} {response.body[:300]!r}"
