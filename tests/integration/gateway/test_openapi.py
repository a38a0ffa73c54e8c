"""Every operation of OpenFaaS's OpenAPI spec, called on the real gateway; responses checked by openapi-core.

Deliberate deviations (docs/compatibility.md, "Gateway"): mutations answer 202 as the reference providers do
(the spec says 200/201/204), so those responses are validated as the code the spec documents; the spec
declares the secret list as one ``SecretDescription`` and the log stream as one ``LogEntry``, so each array
item / NDJSON line is validated as that schema; ``/metrics`` is served on ``metrics_port`` (as OpenFaaS does).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from prometheus_client.exposition import generate_latest
from werkzeug.datastructures import Headers, ImmutableMultiDict

from pyfaas.gateway.async_calls.routes import AsyncSettings
from pyfaas.gateway.metrics import create_metrics_app
from tests.support.gateway import RunningGateway, running_gateway, serve, wait_available
from tests.support.nats import NatsServer, nats_server
from tests.support.providers import write_handler

__all__ = ["nats_server"]

pytestmark = pytest.mark.timeout(120)

SPEC_PATH = Path(__file__).resolve().parents[2] / "reliability" / "fuzz" / "openfaas-spec.openapi.yml"
"""OpenFaaS's spec, vendored unmodified in the repository (see the file's header)."""

SPEC_STATUS = {
    ("put", "/system/functions"): {202: 200},
    ("delete", "/system/functions"): {202: 200},
    ("post", "/system/secrets"): {202: 201},
    ("put", "/system/secrets"): {202: 200},
    ("delete", "/system/secrets"): {202: 204},
}
"""Our status → the spec's status for the same outcome (reference-provider codes, faas-cli accepts both)."""


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    spec["servers"] = [{"url": "/"}]  # any host: the gateway listens on an ephemeral loopback port
    # The spec's `*/*` (function status) and `application/x-ndjson` (one log line) bodies are JSON documents;
    # without a deserializer openapi-core would validate them as raw bytes.
    config = Config(extra_media_type_deserializers={"*/*": json.loads, "application/x-ndjson": json.loads})
    return OpenAPI.from_dict(spec, config=config)


@dataclass
class _Request:
    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    query: dict[str, str] = field(default_factory=dict)
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(query=ImmutableMultiDict(self.query), header=Headers(), cookie={})


@dataclass
class _Response:
    status_code: int
    content_type: str
    headers: Headers
    data: bytes


@dataclass
class Checker:
    openapi: OpenAPI
    session: aiohttp.ClientSession
    base: str
    checked: list[str] = field(default_factory=list)

    async def call(
        self,
        method: str,
        path: str,
        *,
        expect: int,
        body: Any = None,
        query: dict[str, str] | None = None,
        template: str | None = None,
        split: str | None = None,
        base: str | None = None,
    ) -> bytes:
        raw = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        url = (base or self.base) + path
        async with self.session.request(method, url, data=raw, params=query) as response:
            data = await response.read()
            status = response.status
            content_type = response.headers.get("Content-Type", "")
        assert status == expect, f"{method} {path}: {status} {data[:300]!r}"
        spec_status = SPEC_STATUS.get((method.lower(), template or path), {}).get(status, status)
        parts = [data]
        if split == "array":
            parts = [json.dumps(item).encode() for item in json.loads(data)] or [b"{}"]
            assert json.loads(data), f"{path}: empty list cannot show the item schema"
        elif split == "lines":
            parts = [line for line in data.splitlines() if line]
            assert parts, f"{path}: no lines"
        request = _Request(
            host_url=self.base,
            path=path,
            method=method.lower(),
            body=raw,
            content_type="application/json" if raw is not None else "",
            query=query or {},
        )
        for part in parts:
            response_obj = _Response(spec_status, content_type.split(";")[0], Headers(), part)
            self.openapi.validate_response(request, response_obj)
        self.checked.append(f"{method.upper()} {template or path}")
        return data


@pytest.fixture
async def gateway(tmp_path: Path, nats_server: NatsServer) -> AsyncIterator[RunningGateway]:
    settings = AsyncSettings.from_env({"nats_url": nats_server.url})
    async with running_gateway(tmp_path / "state", async_settings=settings) as running:
        yield running


@pytest.fixture
def echo_handler(tmp_path: Path) -> Path:
    return write_handler(
        tmp_path / "echo",
        """
        def handle(event, context):
            return {"statusCode": 200, "body": event.body}
        """,
    )


def _documented_operations() -> Iterator[str]:
    document = yaml.safe_load(SPEC_PATH.read_text())
    for path, item in document["paths"].items():
        for method in item:
            if method in ("get", "put", "post", "delete", "patch"):
                yield f"{method.upper()} {path}"


async def test_every_documented_operation_matches_the_spec(
    gateway: RunningGateway, openapi: OpenAPI, echo_handler: Path
) -> None:
    async with gateway.session() as session:
        check = Checker(openapi, session, gateway.url)
        spec = {
            "service": "echo",
            "image": "local",
            "envVars": {"mode": "python", "handler": str(echo_handler)},
        }
        await check.call("POST", "/system/functions", body=spec, expect=202)
        await wait_available(session, "echo", 1)
        await check.call("PUT", "/system/functions", body={**spec, "labels": {"a": "b"}}, expect=202)
        await wait_available(session, "echo", 1)
        await check.call("GET", "/system/functions", expect=200)
        await check.call(
            "GET", "/system/function/echo", expect=200, template="/system/function/{functionName}"
        )
        await check.call(
            "POST",
            "/system/scale-function/echo",
            body={"serviceName": "echo", "namespace": "openfaas-fn", "replicas": 1},
            expect=202,
            template="/system/scale-function/{functionName}",
        )
        await check.call(
            "POST", "/function/echo", body=b"hi", expect=200, template="/function/{functionName}"
        )
        await check.call(
            "POST",
            "/function/echo.openfaas-fn",
            body=b"hi",
            expect=200,
            template="/function/{functionName}.{namespace}",
        )
        canonical = {route.resource.canonical for route in gateway.app.router.routes() if route.resource}
        if "/async-function/{name}" in canonical:
            await check.call(
                "POST",
                "/async-function/echo",
                body=b"later",
                expect=202,
                template="/async-function/{functionName}",
            )
            await check.call(
                "POST",
                "/async-function/echo.openfaas-fn",
                body=b"later",
                expect=202,
                template="/async-function/{functionName}.{namespace}",
            )
        await check.call(
            "GET", "/system/logs", query={"name": "echo", "tail": "5"}, expect=200, split="lines"
        )
        await check.call("POST", "/system/secrets", body={"name": "s1", "value": "v"}, expect=202)
        await check.call("PUT", "/system/secrets", body={"name": "s1", "value": "v2"}, expect=202)
        await check.call("GET", "/system/secrets", expect=200, split="array")
        await check.call("DELETE", "/system/secrets", body={"name": "s1"}, expect=202)
        await check.call("GET", "/system/namespaces", expect=200)
        await check.call("GET", "/system/info", expect=200)
        await check.call("GET", "/healthz", expect=200)
        if importlib.util.find_spec("pyfaas.gateway.system_api.alerts") is not None:
            alert = {
                "receiver": "scale-up",
                "status": "resolved",
                "alerts": [
                    {
                        "status": "resolved",
                        "labels": {"alertname": "APIHighInvocationRate", "function_name": "echo"},
                    }
                ],
            }
            await check.call("POST", "/system/alert", body=alert, expect=200)
        async with serve(create_metrics_app(gateway.registry)) as metrics_url:
            data = await check.call("GET", "/metrics", expect=200, base=metrics_url)
            assert data == generate_latest(gateway.registry) or b"gateway_" in data
        await check.call("DELETE", "/system/functions", body={"functionName": "echo"}, expect=202)

    documented = set(_documented_operations())
    missing = documented - set(check.checked)
    optional = {
        "POST /async-function/{functionName}",
        "POST /async-function/{functionName}.{namespace}",
        "POST /system/alert",
    }
    assert missing <= optional, missing


# pyfaas's own document ---------------------------------------------------------------------------------
async def test_own_document_is_served_behind_auth_and_lists_the_registered_routes(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    from openapi_spec_validator import validate

    from pyfaas.gateway.system_api.openapi import OPENAPI_PATH

    async_settings = AsyncSettings.from_env({"nats_url": nats_server.url})
    async with running_gateway(tmp_path / "state", auth=True, async_settings=async_settings) as running:
        async with aiohttp.ClientSession(running.url) as anonymous, anonymous.get(OPENAPI_PATH) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"] == 'Basic realm="Restricted"'
        async with running.session() as session, session.get(OPENAPI_PATH) as response:
            assert response.status == 200
            assert response.content_type == "application/json"
            document = await response.json()
    validate(document)
    wanted = {"/async-function/{name}", "/system/async/{call_id}", "/system/functions"}
    assert wanted <= set(document["paths"])

    async with (
        running_gateway(tmp_path / "plain") as plain,
        plain.session() as session,
        session.get(OPENAPI_PATH) as response,
    ):
        without_nats = await response.json()
    assert "/async-function/{name}" not in without_nats["paths"]
    assert not [path for path in without_nats["paths"] if path.startswith("/system/async")]
    assert "/system/functions" in without_nats["paths"]
