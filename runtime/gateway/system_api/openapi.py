"""pyfaas's own OpenAPI 3.1 document, generated from the core pydantic models; ``GET /system/openapi.json``.

The schemas are the models' JSON Schemas (``model_json_schema``: the document cannot drift from what the
gateway validates). The operations are a table of the gateway's routes; the served document lists only the
operations whose route is registered in this gateway (``/async-function`` and ``/system/async`` need NATS,
``/system/alert`` its extension), so a client or fuzzer never meets a documented 404. Every ``/system/*``
operation requires HTTP basic auth (scheme ``basicAuth``) and documents its 401.

Wiring: ``setup_openapi(app)`` (picked up by :func:`pyfaas.gateway.app.create_app` when present).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from pyfaas.core import models
from pyfaas.core.replica_owner import ScaleResult
from pyfaas.core.version import __version__
from pyfaas.gateway.invocation.function_auth import CreateKey, CreateToken

__all__ = ["OPENAPI_PATH", "ErrorBody", "Operation", "build_document", "operations", "setup_openapi"]

OPENAPI_PATH = "/system/openapi.json"
_REF = "#/components/schemas/{model}"


class ErrorBody(BaseModel):
    """Every gateway-made error but basic auth's 401: what went wrong and, when known, the field."""

    error: str
    field: str | None = None


_MODELS: tuple[type[BaseModel], ...] = (
    models.FunctionDeployment,
    models.FunctionStatus,
    models.DeleteFunctionRequest,
    models.ScaleServiceRequest,
    models.Secret,
    models.GatewayInfo,
    models.FunctionNamespace,
    models.LogMessage,
    models.AlertmanagerWebhook,
    models.AsyncCallRecord,
    models.QueueRequest,
    ScaleResult,
    ErrorBody,
    CreateKey,
    CreateToken,
)

_ERRORS = {
    400: "invalid input (the body names the field)",
    401: "missing or wrong basic-auth credentials",
    404: "no such function, secret, namespace or call",
    409: "already exists",
    413: "request body too large",
    503: "temporarily unavailable (Retry-After says when to try again)",
}
_FUNCTION_METHODS = ("get", "post", "put", "patch", "delete")
_KEY_RECORD: dict[str, Any] = {
    "type": "object",
    "properties": {
        name: {"type": kind}
        for name, kind in (
            ("id", "string"),
            ("function", "string"),
            ("namespace", "string"),
            ("label", "string"),
            ("created", "number"),
        )
    },
}
_SIGNING_KEY: dict[str, Any] = {
    "type": "object",
    "properties": {"kid": {"type": "string"}, "created": {"type": "number"}, "signing": {"type": "boolean"}},
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


@dataclass(frozen=True)
class Operation:
    """One documented operation; ``route`` is the aiohttp canonical path it is served by."""

    method: str
    path: str
    route: str
    summary: str
    ok: Mapping[int, tuple[str, dict[str, Any] | None]]
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    raw_body: bool = False
    query: tuple[dict[str, Any], ...] = ()
    headers: tuple[dict[str, Any], ...] = ()
    tag: str = "system"
    secured: bool = True
    default_response: str | None = None

    def render(self) -> dict[str, Any]:
        parameters = (
            [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _path_params(self.path)
            ]
            + list(self.query)
            + list(self.headers)
        )
        responses: dict[str, Any] = {}
        for status, (description, content) in self.ok.items():
            responses[str(status)] = {"description": description}
            if content is not None:
                responses[str(status)]["content"] = content
        for status in (*self.errors, *((401,) if self.secured else ())):
            response: dict[str, Any] = {"description": _ERRORS[status]}
            if status == 401:
                response["headers"] = {
                    "WWW-Authenticate": {
                        "schema": {"type": "string"},
                        "description": 'Basic realm="Restricted"',
                    }
                }
                response["content"] = {"text/plain": {"schema": {"type": "string"}}}
            else:
                response["content"] = _json(_ref(ErrorBody))
            responses[str(status)] = response
        if self.default_response is not None:
            responses["default"] = {"description": self.default_response}
        operation: dict[str, Any] = {
            "summary": self.summary,
            "operationId": _operation_id(self.method, self.path),
            "tags": [self.tag],
            "responses": responses,
        }
        if parameters:
            operation["parameters"] = parameters
        if self.body is not None:
            operation["requestBody"] = {"required": self.body_required, "content": _json(_ref(self.body))}
        elif self.raw_body:
            operation["requestBody"] = {
                "required": False,
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            }
        if self.secured:
            operation["security"] = [{"basicAuth": []}]
        return operation


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _operation_id(method: str, path: str) -> str:
    words = [part.strip("{}").replace("-", "_").replace(".", "_") for part in path.split("/") if part]
    return "_".join([method, *words])


def _query(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


_NAMESPACE = _query("namespace", {"type": "string"}, "namespace (default: the gateway's function_namespace)")
_FUNCTION_FILTER = _query("function", {"type": "string"}, "name or name.namespace")
_ACCEPTED: Mapping[int, tuple[str, dict[str, Any] | None]] = {202: ("accepted", None)}


def operations() -> list[Operation]:
    """Every operation the gateway can serve (the served document keeps those registered)."""
    name = "/system/function/{name}"
    namespace = "/system/namespace/{namespace}"
    dead = "/system/async/dead-letters"
    keys = "/system/function-keys/{name}"
    ring = "/system/function-token-keys"
    function_response = "the function's own response (any status and body it returns)"
    return [
        Operation("get", "/healthz", "/healthz", "Health of the gateway and its provider",
                  {200: ("healthy", {"text/plain": {"schema": {"type": "string"}}})},
                  errors=(503,), tag="internal", secured=False),
        Operation("get", "/system/info", "/system/info", "Gateway and provider versions",
                  {200: ("info", _json(_ref(models.GatewayInfo)))}),
        Operation("get", "/system/functions", "/system/functions", "List functions",
                  {200: ("functions", _json({"type": "array", "items": _ref(models.FunctionStatus)}))},
                  errors=(400,), query=(_NAMESPACE,)),
        Operation("post", "/system/functions", "/system/functions", "Deploy a function", _ACCEPTED,
                  errors=(400, 404, 409, 413), body=models.FunctionDeployment, query=(_NAMESPACE,)),
        Operation("put", "/system/functions", "/system/functions", "Update a function", _ACCEPTED,
                  errors=(400, 404, 413), body=models.FunctionDeployment, query=(_NAMESPACE,)),
        Operation("delete", "/system/functions", "/system/functions", "Delete a function", _ACCEPTED,
                  errors=(400, 404, 413), body=models.DeleteFunctionRequest, query=(_NAMESPACE,)),
        Operation("get", name, name, "A function's status",
                  {200: ("status", _json(_ref(models.FunctionStatus)))},
                  errors=(400, 404), query=(_NAMESPACE,)),
        Operation("post", "/system/scale-function/{name}", "/system/scale-function/{name}",
                  "Set a function's replicas (clamped to com.openfaas.scale.max)",
                  {202: ("accepted; the count applied and who else may change it", _json(_ref(ScaleResult)))},
                  errors=(400, 404, 413), body=models.ScaleServiceRequest, query=(_NAMESPACE,)),
        Operation("get", "/system/secrets", "/system/secrets", "List secrets (names only)",
                  {200: ("secrets", _json({"type": "array", "items": _ref(models.Secret)}))},
                  errors=(400,), query=(_NAMESPACE,)),
        *(
            Operation(method, "/system/secrets", "/system/secrets", f"{verb} a secret", _ACCEPTED,
                      errors=errors, body=models.Secret, query=(_NAMESPACE,))
            for method, verb, errors in (
                ("post", "Create", (400, 404, 409, 413)),
                ("put", "Update", (400, 404, 413)),
                ("delete", "Delete", (400, 404, 413)),
            )
        ),
        Operation("get", "/system/logs", "/system/logs", "A function's logs (NDJSON of LogMessage)",
                  {200: ("log lines", {"application/x-ndjson": {"schema": _ref(models.LogMessage)}})},
                  errors=(400, 404),
                  query=(
                      _query("name", {"type": "string"}, "function name (name or name.namespace)",
                             required=True),
                      _NAMESPACE,
                      _query("instance", {"type": "string"}, "one replica only"),
                      _query("tail", {"type": "integer"}, "last N lines (0: all)"),
                      _query("follow", {"type": "boolean"}, "keep streaming new lines"),
                      _query("since", {"type": "string", "format": "date-time"}, "lines after this time"),
                  )),
        Operation("get", "/system/namespaces", "/system/namespaces", "List namespaces",
                  {200: ("namespaces", _json({"type": "array", "items": {"type": "string"}}))}),
        Operation("get", namespace, namespace, "A namespace",
                  {200: ("namespace", _json(_ref(models.FunctionNamespace)))}, errors=(400, 404)),
        Operation("post", namespace, namespace, "Create a namespace", _ACCEPTED,
                  errors=(400, 409, 413), body=models.FunctionNamespace, body_required=False),
        Operation("put", namespace, namespace, "Update a namespace", _ACCEPTED,
                  errors=(400, 404, 413), body=models.FunctionNamespace, body_required=False),
        Operation("delete", namespace, namespace, "Delete a namespace", _ACCEPTED, errors=(400, 404)),
        Operation("post", "/system/alert", "/system/alert", "AlertManager webhook: scale functions",
                  {200: ("applied", None)}, errors=(400, 413), body=models.AlertmanagerWebhook),
        Operation("get", "/system/async/{call_id}", "/system/async/{call_id}", "An async call's record",
                  {200: ("record", _json(_ref(models.AsyncCallRecord)))}, errors=(400, 404, 503)),
        Operation("get", dead, dead, "List dead letters",
                  {200: ("dead letters", _json({
                      "type": "object",
                      "properties": {"items": {"type": "array", "items": {"type": "object"}},
                                     "count": {"type": "integer"}},
                      "required": ["items", "count"],
                  }))},
                  errors=(400, 503),
                  query=(_FUNCTION_FILTER,
                         _query("limit", {"type": "integer"}, "at most this many (default 100)"))),
        Operation("delete", dead, dead, "Purge dead letters (all, or one function's)",
                  {200: ("purged", _json({"type": "object", "properties": {"purged": {"type": "integer"}}}))},
                  errors=(400, 503), query=(_FUNCTION_FILTER,)),
        Operation("get", dead + "/{call_id}", dead + "/{call_id}", "One dead letter",
                  {200: ("dead letter", _json({"type": "object"}))}, errors=(400, 404, 503)),
        Operation("delete", dead + "/{call_id}", dead + "/{call_id}", "Purge one dead letter",
                  {204: ("purged", None)}, errors=(400, 404, 503)),
        Operation("post", dead + "/{call_id}/redrive", dead + "/{call_id}/redrive",
                  "Queue a dead letter again", _ACCEPTED, errors=(400, 404, 503)),
        Operation("get", keys, keys, "A private function's API keys (ids and labels, never the keys)",
                  {200: ("keys", _json({"type": "array", "items": _KEY_RECORD}))},
                  errors=(400,), query=(_NAMESPACE,)),
        Operation("post", keys, keys, "Create an API key for a private function (shown once)",
                  {201: ("the key and its record", _json({**_KEY_RECORD, "properties": {
                      **_KEY_RECORD["properties"], "key": {"type": "string"}}}))},
                  errors=(400, 404, 413), body=CreateKey, body_required=False, query=(_NAMESPACE,)),
        Operation("delete", keys + "/{key_id}", keys + "/{key_id}", "Revoke an API key",
                  {204: ("revoked", None)}, errors=(400, 404), query=(_NAMESPACE,)),
        Operation("post", "/system/function-tokens/{name}", "/system/function-tokens/{name}",
                  "Mint a signed token (JWT) for a private function or its namespace",
                  {201: ("the token", _json({"type": "object", "properties": {
                      "token": {"type": "string"}, "audience": {"type": "string"},
                      "expires": {"type": "integer"}}}))},
                  errors=(400, 404, 413), body=CreateToken, body_required=False, query=(_NAMESPACE,)),
        Operation("get", ring, ring, "The token signing keys (ids only)",
                  {200: ("signing keys", _json({"type": "array", "items": _SIGNING_KEY}))}),
        Operation("post", ring, ring, "Add a signing key (it signs new tokens; older keys still verify)",
                  {201: ("the new key", _json(_SIGNING_KEY))}),
        Operation("delete", ring + "/{kid}", ring + "/{kid}", "Retire a signing key (its tokens then fail)",
                  {204: ("retired", None)}, errors=(400, 404)),
        Operation("get", OPENAPI_PATH, OPENAPI_PATH, "This document",
                  {200: ("OpenAPI 3.1 document", _json({"type": "object"}))}),
        *(
            Operation(method, "/function/{name}", "/function/{name}{tail}", "Call a function",
                      {}, errors=(400, 404, 413, 503), raw_body=True, tag="function", secured=False,
                      default_response=function_response)
            for method in _FUNCTION_METHODS
        ),
        Operation("post", "/async-function/{name}", "/async-function/{name}",
                  "Queue a call (202 once stored); X-Callback-Url receives the result",
                  {202: ("queued", None)}, errors=(400, 404, 413, 503), raw_body=True, tag="function",
                  secured=False,
                  headers=({"name": "X-Callback-Url", "in": "header", "required": False,
                            "schema": {"type": "string", "format": "uri"}},)),
    ]  # fmt: skip


_SCALAR = {"type": ["string", "number", "boolean"]}
_LENIENT_INPUTS: dict[tuple[str, str], dict[str, Any]] = {
    # Inputs the models' before-validators accept on purpose, which model_json_schema cannot see.
    ("AlertmanagerWebhook", "groupKey"): {"type": ["string", "integer"], "default": ""},
    **{
        ("FunctionDeployment", key): {
            "anyOf": [{"type": "object", "additionalProperties": _SCALAR}, {"type": "null"}]
        }
        for key in ("envVars", "labels", "annotations")
    },
}


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema([(model, "validation") for model in _MODELS], ref_template=_REF)
    schemas: dict[str, Any] = top["$defs"]
    for (model, key), schema in _LENIENT_INPUTS.items():
        schemas[model]["properties"][key] = {**schemas[model]["properties"][key], **schema}
    return schemas


def build_document(
    version: str, *, available: Callable[[str, str], bool] | None = None, server_url: str | None = None
) -> dict[str, Any]:
    """The document; ``available(method, route)`` keeps only operations served (None: keep all)."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations():
        if available is not None and not available(operation.method, operation.route):
            continue
        paths.setdefault(operation.path, {})[operation.method] = operation.render()
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "pyfaas gateway",
            "version": version,
            "description": "OpenFaaS-compatible gateway API of pyfaas (generated from pyfaas.core.models).",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
        },
    }
    if server_url is not None:
        document["servers"] = [{"url": server_url}]
    return document


def _registered(router: web.UrlDispatcher) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in router.routes():
        if route.resource is not None:
            found.add((route.method.lower(), route.resource.canonical))
    return found


def _available_in(routes: Iterable[tuple[str, str]]) -> Callable[[str, str], bool]:
    registered = set(routes)

    def available(method: str, route: str) -> bool:
        return (method, route) in registered or ("*", route) in registered

    return available


def setup_openapi(app: web.Application) -> None:
    """Register ``GET /system/openapi.json`` (behind basic auth like every ``/system/`` route)."""
    built: list[dict[str, Any]] = []

    async def document(request: web.Request) -> web.Response:
        if not built:
            # Built on first use: every extension has registered its routes by then.
            routes = _registered(request.app.router)
            built.append(build_document(__version__, available=_available_in(routes)))
        return web.json_response(built[0])

    app.router.add_get(OPENAPI_PATH, document)
