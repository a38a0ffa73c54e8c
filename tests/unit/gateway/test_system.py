"""The /system API's input validation, status codes and headers (in-memory provider)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from pyfaas.core.errors import ConfigError
from pyfaas.core.models import LogMessage
from pyfaas.core.replica_owner import REPLICA_OWNER_HEADER
from pyfaas.gateway.app import create_app
from pyfaas.gateway.async_calls.routes import AsyncSettings
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.gateway.system_api.routes import SCALE_CLAMPED_HEADER
from pyfaas.system.credentials import BasicAuthCredentials
from tests.support.gateway import MemoryProvider, RunningGateway, free_port, running_gateway, serve


@pytest.fixture
async def provider() -> MemoryProvider:
    memory = MemoryProvider()
    memory.add("fn", [], labels={"com.openfaas.scale.max": "7"})
    return memory


@pytest.fixture
async def gateway(tmp_path: Path, provider: MemoryProvider) -> AsyncIterator[RunningGateway]:
    async with running_gateway(tmp_path, provider=provider) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/system/functions", {"image": "x"}, "service"),
        ("POST", "/system/functions", {"service": "ok"}, "image"),
        ("POST", "/system/functions", {"service": "Not_Valid", "image": "x"}, "service"),
        ("POST", "/system/functions", {"service": "ok", "image": "x", "namespace": "Bad!"}, "namespace"),
        ("POST", "/system/functions", {"service": "ok", "image": "x", "envVars": []}, "envVars"),
        ("POST", "/system/functions", "not json", "body"),
        ("POST", "/system/functions", None, "body"),
        ("POST", "/system/functions", [1, 2], "body"),
        ("PUT", "/system/functions", {"service": "ok"}, "image"),
        ("DELETE", "/system/functions", {}, "functionName"),
        ("POST", "/system/scale-function/fn", {"replicas": -1}, "replicas"),
        ("POST", "/system/scale-function/fn", {"serviceName": "fn"}, "replicas"),
        ("POST", "/system/scale-function/fn", {"replicas": "many"}, "replicas"),
        ("POST", "/system/scale-function/Bad_Name", {"replicas": 1}, "name"),
        ("POST", "/system/secrets", {"value": "v"}, "name"),
        ("POST", "/system/secrets", {"name": "../etc", "value": "v"}, "name"),
        ("POST", "/system/secrets", {"name": "s", "rawValue": "***"}, "rawValue"),
        ("GET", "/system/logs", None, "name"),
        ("GET", "/system/logs?name=fn&tail=x", None, "tail"),
        ("GET", "/system/logs?name=fn&since=yesterday", None, "since"),
        ("GET", "/system/logs?name=fn&follow=maybe", None, "follow"),
        ("GET", "/system/functions?namespace=Not_Valid", None, "namespace"),
        ("GET", "/system/namespace/", None, "namespace"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    gateway: RunningGateway, method: str, path: str, body: Any, field: str
) -> None:
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    async with gateway.session() as session, session.request(method, path, data=data) as response:
        assert response.status == 400, await response.text()
        payload = await response.json()
    assert payload["field"] == field
    assert payload["error"]


async def test_scale_clamps_to_scale_max_and_allows_zero(
    gateway: RunningGateway, provider: MemoryProvider
) -> None:
    async with gateway.session() as session:
        async with session.post("/system/scale-function/fn", json={"serviceName": "fn", "replicas": 50}) as r:
            assert r.status == 202
            assert r.headers[SCALE_CLAMPED_HEADER] == "7"
        async with session.post("/system/scale-function/fn", json={"replicas": 6}) as r:
            assert r.status == 202
            assert SCALE_CLAMPED_HEADER not in r.headers
        async with session.post("/system/scale-function/fn?namespace=openfaas-fn", json={"replicas": 0}) as r:
            assert r.status == 202
        async with session.post("/system/scale-function/fn.openfaas-fn", json={"replicas": 3}) as r:
            assert r.status == 202
        async with session.post("/system/scale-function/missing", json={"replicas": 1}) as r:
            assert r.status == 404
    assert provider.scale_calls == [
        ("fn", "openfaas-fn", 7),
        ("fn", "openfaas-fn", 6),
        ("fn", "openfaas-fn", 0),
        ("fn", "openfaas-fn", 3),
    ]


async def test_scale_above_default_max_of_20(tmp_path: Path) -> None:
    provider = MemoryProvider()
    provider.add("plain", [])
    async with running_gateway(tmp_path, provider=provider) as gateway, gateway.session() as session:
        async with session.post("/system/scale-function/plain", json={"replicas": 12}) as r:
            assert r.status == 202  # no 5-replica ceiling
        async with session.post("/system/scale-function/plain", json={"replicas": 21}) as r:
            assert r.headers[SCALE_CLAMPED_HEADER] == "20"
    assert provider.scale_calls == [("plain", "openfaas-fn", 12), ("plain", "openfaas-fn", 20)]


@pytest.mark.parametrize(
    ("labels", "owners", "sticks", "mentions"),
    [
        ({"com.openfaas.scale.factor": "0"}, "manual", True, []),
        ({}, "load", True, ["com.openfaas.scale.min=1", "com.openfaas.scale.factor=0"]),
        (
            {"com.openfaas.scale.type": "capacity", "com.openfaas.scale.max": "4"},
            "target-tracking",
            False,
            ["com.openfaas.scale.type=capacity", "1..4"],
        ),
        (
            {
                "com.openfaas.scale.zero": "true",
                "com.openfaas.scale.zero-duration": "90s",
                "com.openfaas.scale.factor": "0",
            },
            "scale-to-zero",
            True,
            ["1m30s"],
        ),
        (
            {"com.openfaas.scale.type": "rps", "com.openfaas.scale.zero": "1"},
            "target-tracking,scale-to-zero",
            False,
            ["inactivity_duration"],
        ),
    ],
)
async def test_scale_answers_who_owns_the_replica_count(
    tmp_path: Path, labels: dict[str, str], owners: str, sticks: bool, mentions: list[str]
) -> None:
    provider = MemoryProvider()
    provider.add("fn", [], labels=labels)
    async with (
        running_gateway(tmp_path, provider=provider) as gateway,
        gateway.session() as session,
        session.post("/system/scale-function/fn", json={"serviceName": "fn", "replicas": 3}) as r,
    ):
        assert r.status == 202
        assert r.headers[REPLICA_OWNER_HEADER] == owners
        body = await r.json()
    assert body["name"] == "fn" and body["replicas"] == 3 and body["sticks"] is sticks
    assert (",".join(body["owners"]) or "manual") == owners
    notes = " ".join(body["notes"])
    assert all(mention in notes for mention in mentions), notes
    assert provider.scale_calls == [("fn", "openfaas-fn", 3)]


async def test_function_lifecycle_codes(gateway: RunningGateway, provider: MemoryProvider) -> None:
    spec = {"service": "new", "image": "img", "labels": {"a": "b"}}
    async with gateway.session() as session:
        async with session.put("/system/functions", json=spec) as r:
            assert r.status == 404  # faas-cli deploy relies on this to fall back to POST
        async with session.post("/system/functions", json=spec) as r:
            assert r.status == 202
        async with session.post("/system/functions", json=spec) as r:
            assert r.status == 409
        async with session.put("/system/functions", json={**spec, "image": "img2"}) as r:
            assert r.status == 202
        async with session.get("/system/function/new") as r:
            status = await r.json()
            assert status["image"] == "img2"
            assert status["namespace"] == "openfaas-fn"
            assert status["createdAt"].endswith("Z")
        async with session.delete("/system/functions", json={"functionName": "new"}) as r:
            assert r.status == 202
        async with session.delete("/system/functions", json={"functionName": "new"}) as r:
            assert r.status == 404


async def test_secrets_and_namespaces(gateway: RunningGateway, provider: MemoryProvider) -> None:
    async with gateway.session() as session:
        async with session.post("/system/secrets", json={"name": "api-key", "value": "v1"}) as r:
            assert r.status == 202
        async with session.put("/system/secrets", json={"name": "api-key", "value": "v2"}) as r:
            assert r.status == 202
        async with session.get("/system/secrets") as r:
            assert await r.json() == [{"name": "api-key", "namespace": "openfaas-fn"}]
        async with session.delete("/system/secrets", json={"name": "api-key"}) as r:
            assert r.status == 202
        async with session.delete("/system/secrets", json={"name": "api-key"}) as r:
            assert r.status == 404
        async with session.post("/system/namespace/team-b", json={"labels": {"x": "y"}}) as r:
            assert r.status == 202
        async with session.get("/system/namespaces") as r:
            assert "team-b" in await r.json()
        async with session.get("/system/namespace/team-b") as r:
            assert (await r.json())["labels"] == {"x": "y"}
        async with session.delete("/system/namespace/team-b") as r:
            assert r.status == 202
        async with session.get("/system/namespace/team-b") as r:
            assert r.status == 404


async def test_logs_stream_ndjson(gateway: RunningGateway, provider: MemoryProvider) -> None:
    stamp = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    provider.log_lines = [
        LogMessage(name="fn", namespace="openfaas-fn", instance="fn-0", timestamp=stamp, text=f"line {i}")
        for i in range(3)
    ]
    async with gateway.session() as session, session.get("/system/logs?name=fn") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in (await r.text()).splitlines()]
    assert [line["text"] for line in lines] == ["line 0", "line 1", "line 2"]
    assert lines[0]["timestamp"] == "2024-05-06T07:08:09Z"
    async with gateway.session() as session, session.get("/system/logs?name=nope") as r:
        assert r.status == 404


async def test_info_health_root_and_unknown_routes(gateway: RunningGateway) -> None:
    async with gateway.session() as session:
        async with session.get("/system/info") as r:
            info = await r.json()
        assert info["provider"]["provider"] == "memory"
        assert info["version"]["commit_message"]
        assert info["arch"] in ("amd64", "arm64") or info["arch"]
        async with session.get("/healthz") as r:
            assert r.status == 200
        async with session.get("/", allow_redirects=False) as r:
            assert r.status == 307
            assert r.headers["Location"] == "/ui/"
        async with session.get("/nothing/here") as r:
            assert r.status == 404
            assert "error" in await r.json()
        async with session.patch("/system/functions") as r:
            assert r.status == 405


async def test_async_routes_only_with_async_settings() -> None:
    def async_routes(app: web.Application) -> set[str]:
        return {route.resource.canonical for route in app.router.routes() if route.resource is not None} & {
            "/async-function/{name}",
            "/system/async/{call_id}",
        }

    without = create_app(GatewaySettings.from_env({}), MemoryProvider(), registry=CollectorRegistry())
    assert async_routes(without) == set()
    with_nats = create_app(
        GatewaySettings.from_env({}),
        MemoryProvider(),
        registry=CollectorRegistry(),
        async_settings=AsyncSettings.from_env({"nats_url": "nats://127.0.0.1:1"}),
    )
    assert async_routes(with_nats) == {"/async-function/{name}", "/system/async/{call_id}"}


def test_settings_defaults_and_provider_choice() -> None:
    settings = GatewaySettings.from_env({})
    assert (settings.port, settings.metrics_port) == (8080, 8082)
    assert settings.upstream_timeout == settings.read_timeout == settings.write_timeout == 60.0
    assert settings.scale_from_zero is True
    assert settings.function_namespace == "openfaas-fn"
    assert settings.provider == "local"
    assert settings.prometheus_url is None
    remote = GatewaySettings.from_env({"functions_provider_url": "http://p:8081/", "upstream_timeout": "65s"})
    assert remote.provider == "remote"
    assert remote.upstream_timeout == 65.0
    with pytest.raises(ConfigError) as raised:
        GatewaySettings.from_env({"read_timeout": "soon"})
    assert raised.value.field == "read_timeout"


def test_basic_auth_credentials(tmp_path: Path) -> None:
    (tmp_path / "basic-auth-user").write_text("admin\n")
    (tmp_path / "basic-auth-password").write_text(" pw \n")
    credentials = BasicAuthCredentials.load(str(tmp_path))
    assert credentials == BasicAuthCredentials("admin", "pw")
    import base64

    def header(text: str) -> str:
        return "Basic " + base64.b64encode(text.encode()).decode()

    assert credentials.check(header("admin:pw"))
    assert not credentials.check(header("admin:pw2"))
    assert not credentials.check(header("root:pw"))
    assert not credentials.check(header("adminpw"))
    assert not credentials.check("Bearer x")
    assert not credentials.check("Basic !!!")
    assert not credentials.check(None)
    with pytest.raises(ConfigError):
        BasicAuthCredentials.load(str(tmp_path / "missing"))


async def test_invocation_count_from_prometheus_when_configured(tmp_path: Path) -> None:
    queries: list[str] = []

    async def query(request: web.Request) -> web.Response:
        queries.append(request.query["query"])
        result = [{"metric": {"function_name": "fn.openfaas-fn"}, "value": [1700000000.0, "1337"]}]
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": result}})

    prometheus = web.Application()
    prometheus.router.add_get("/api/v1/query", query)
    provider = MemoryProvider()
    provider.add("fn", [])
    provider.add("quiet", [])
    async with serve(prometheus) as url:
        host, port = url.removeprefix("http://").split(":")
        env = {"faas_prometheus_host": host, "faas_prometheus_port": port}
        gateway = running_gateway(tmp_path, provider=provider, env=env)
        async with gateway as running, running.session() as s, s.get("/system/functions") as response:
            listed = {item["name"]: item for item in await response.json()}
    assert listed["fn"]["invocationCount"] == 1337
    assert "invocationCount" not in listed["quiet"]  # zero is omitted, as Go's omitempty does
    assert queries == [
        'sum(gateway_function_invocation_total{function_name=~".*.openfaas-fn"}) by (function_name)'
    ]


async def test_prometheus_down_falls_back_to_own_counters(tmp_path: Path) -> None:
    provider = MemoryProvider()
    provider.add("fn", [])
    env = {"faas_prometheus_host": "127.0.0.1", "faas_prometheus_port": str(free_port())}
    gateway = running_gateway(tmp_path, provider=provider, env=env)
    async with gateway as running, running.session() as s, s.get("/system/functions") as response:
        assert response.status == 200
        assert [item["name"] for item in await response.json()] == ["fn"]
