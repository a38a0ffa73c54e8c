"""pyfaas's own OpenAPI document: a valid OpenAPI 3.1 document that documents every route the gateway has."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from prometheus_client import CollectorRegistry

from pyfaas.core import models
from pyfaas.gateway.app import create_app
from pyfaas.gateway.async_calls.routes import AsyncSettings
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.gateway.system_api.openapi import OPENAPI_PATH, build_document, operations
from tests.support.gateway import MemoryProvider

UNDOCUMENTED = {("get", "/")}
"""Routes deliberately left out: the redirect to the portal. The portal's own routes (``/ui/...`` and its
data endpoints ``/system/ui/...``) are its internals, not API (still behind auth: see reliability/access)."""
PORTAL_PREFIXES = ("/ui", "/system/ui/")


def _walk_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _walk_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _walk_refs(value)]
    return []


def test_document_is_valid_openapi() -> None:
    document = build_document("1.2.3")
    validate(document)  # raises on any structural error
    assert document["openapi"].startswith("3.1")
    assert document["info"]["version"] == "1.2.3"


def test_every_reference_resolves_and_schemas_come_from_the_models() -> None:
    document = build_document("dev")
    schemas = document["components"]["schemas"]
    for ref in _walk_refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref
    deployment = models.FunctionDeployment.model_json_schema(ref_template="#/components/schemas/{model}")
    lenient = {"envVars", "labels", "annotations"}  # documented wider: scalars are stringified on input
    assert set(schemas["FunctionDeployment"]["properties"]) == set(deployment["properties"])
    for key, schema in deployment["properties"].items():
        if key not in lenient:
            assert schemas["FunctionDeployment"]["properties"][key] == schema, key
    assert set(schemas["FunctionDeployment"]["required"]) == {"service", "image"}


def test_system_operations_need_basic_auth_and_document_401() -> None:
    document = build_document("dev")
    assert document["components"]["securitySchemes"]["basicAuth"] == {"type": "http", "scheme": "basic"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            secured = path.startswith("/system/")
            assert ("security" in operation) == secured, (method, path)
            assert ("401" in operation["responses"]) == secured, (method, path)


def test_the_routes_of_the_brief_are_documented() -> None:
    paths = build_document("dev")["paths"]
    wanted = {
        "/system/functions": {"get", "post", "put", "delete"},
        "/system/function/{name}": {"get"},
        "/system/scale-function/{name}": {"post"},
        "/system/secrets": {"get", "post", "put", "delete"},
        "/system/namespaces": {"get"},
        "/system/logs": {"get"},
        "/system/info": {"get"},
        "/system/alert": {"post"},
        "/system/async/{call_id}": {"get"},
        "/function/{name}": {"get", "post", "put", "patch", "delete"},
        "/async-function/{name}": {"post"},
        "/healthz": {"get"},
        OPENAPI_PATH: {"get"},
    }
    for path, methods in wanted.items():
        assert methods <= set(paths[path]), path


def test_unregistered_routes_are_left_out() -> None:
    document = build_document("dev", available=lambda method, route: not route.startswith("/system/async"))
    assert not [path for path in document["paths"] if path.startswith("/system/async")]
    assert "/system/functions" in document["paths"]
    validate(document)


@pytest.fixture
def full_app_routes() -> set[tuple[str, str]]:
    settings = GatewaySettings.from_env({})
    async_settings = AsyncSettings.from_env({"nats_url": "nats://127.0.0.1:1"})
    app = create_app(
        settings,
        MemoryProvider(),
        registry=CollectorRegistry(),
        async_settings=async_settings,
    )
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


def test_every_route_of_the_gateway_is_documented(full_app_routes: set[tuple[str, str]]) -> None:
    documented = {(op.method, op.route) for op in operations()}
    documented_routes = {route for _, route in documented}
    missing = set()
    for method, route in full_app_routes - UNDOCUMENTED:
        if route.startswith(PORTAL_PREFIXES):
            continue
        if method == "*":  # any-method routes: documented under at least one method
            if route not in documented_routes and not route.startswith("/async-function/{name}"):
                missing.add((method, route))
        elif (method, route) not in documented:
            missing.add((method, route))
    assert not missing, f"routes without an OpenAPI operation: {sorted(missing)}"
