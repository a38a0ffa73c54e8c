"""Gateway URL precedence and normalisation, as faas-cli chooses them."""

from __future__ import annotations

import pytest

from pyfaas.cli.gateway_url import DEFAULT_GATEWAY, normalise_gateway, resolve_gateway


@pytest.mark.parametrize(
    ("flag", "stack", "env", "expected"),
    [
        (None, None, None, DEFAULT_GATEWAY),
        ("http://flag:1", "http://stack:2", "http://env:3", "http://flag:1"),
        (None, "http://stack:2", "http://env:3", "http://stack:2"),
        (None, None, "http://env:3", "http://env:3"),
        # a flag or stack that names the default does not hide OPENFAAS_URL (faas-cli compares to the default)
        (DEFAULT_GATEWAY, None, "http://env:3", "http://env:3"),
        (None, DEFAULT_GATEWAY, "http://env:3", "http://env:3"),
        (None, DEFAULT_GATEWAY + "/", None, DEFAULT_GATEWAY),
    ],
)
def test_precedence(flag: str | None, stack: str | None, env: str | None, expected: str) -> None:
    assert resolve_gateway(flag, stack, env) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Gateway.Example:8080/", "http://gateway.example:8080"),
        ("gateway:8080", "http://gateway:8080"),
        ("https://gw.example//", "https://gw.example"),
        ("  http://127.0.0.1:8080  ", "http://127.0.0.1:8080"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise_gateway(raw) == expected
