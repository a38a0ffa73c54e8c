"""The ``/system/*`` API (plus ``/healthz`` and ``/``), served in-process on the ``Provider`` protocol.

Status codes follow the reference providers (faas-netes, faasd), which faas-cli is written against: 202 for
deploy, update, delete, scale and every secret/namespace mutation; 404 for an unknown function on update, so
``faas-cli deploy`` falls back to create. Deviations from the OpenAPI spec: docs/compatibility.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import platform
from typing import Any

import aiohttp
from aiohttp import web

from pyfaas.core.errors import Unavailable, ValidationFailed
from pyfaas.core.labels import scaling_policy
from pyfaas.core.models import (
    DeleteFunctionRequest,
    FunctionDeployment,
    FunctionNamespace,
    FunctionStatus,
    GatewayInfo,
    ScaleServiceRequest,
    Secret,
    VersionInfo,
)
from pyfaas.core.names import (
    qualified_name,
    validate_function_name,
    validate_namespace,
    validate_secret_name,
)
from pyfaas.core.replica_owner import REPLICA_OWNER_HEADER, ScaleResult, replica_ownership
from pyfaas.core.timeouts import validate_timeout_annotation
from pyfaas.gateway.inputs import namespace_of, query_bool, query_int, query_time, read_model
from pyfaas.gateway.keys import DRAINING, HTTP_SESSION
from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.provider.base import LogRequest, Provider

__all__ = ["SCALE_CLAMPED_HEADER", "SystemRoutes", "gateway_arch"]

log = logging.getLogger("pyfaas.gateway.system_api.routes")

SCALE_CLAMPED_HEADER = "X-Scale-Clamped"
"""Set on a scale response whose requested replicas were above the function's ``com.openfaas.scale.max``."""
_COMMIT_MESSAGE = "See GitHub for latest changes"
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}


def gateway_arch() -> str:
    """Go's GOARCH naming (``amd64``, ``arm64``), as OpenFaaS reports it."""
    machine = platform.machine().lower()
    return _ARCH.get(machine, machine)


def _accepted(headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=202, headers=headers)


async def _until_disconnected(request: web.Request) -> None:
    """Return once the client's connection is gone (aiohttp does not cancel handlers on disconnect)."""
    while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(0.5)


def _split_path_name(
    request: web.Request, default_namespace: str, *body_namespace: str | None
) -> tuple[str, str]:
    """Name from the path (``name`` or ``name.namespace``); namespace: query, body, suffix, default."""
    raw = request.match_info["name"]
    name, dot, suffix = raw.rpartition(".")
    if not dot:
        name, suffix = raw, ""
    validate_function_name(name, field="name")
    return name, namespace_of(request, default_namespace, *body_namespace, suffix)


class SystemRoutes:
    def __init__(
        self,
        provider: Provider,
        metrics: GatewayMetrics,
        *,
        default_namespace: str,
        version: str,
        write_timeout: float,
        prometheus_url: str | None,
    ) -> None:
        self._provider = provider
        self._metrics = metrics
        self._default_namespace = default_namespace
        self._version = version
        self._write_timeout = write_timeout
        self._prometheus_url = prometheus_url

    def register(self, router: web.UrlDispatcher) -> None:
        name = "{name:[-a-zA-Z_0-9.]+}"
        router.add_get("/", self.root)
        router.add_get("/healthz", self.healthz)
        router.add_get("/system/info", self.info)
        router.add_get("/system/functions", self.list_functions)
        router.add_post("/system/functions", self.deploy)
        router.add_put("/system/functions", self.update)
        router.add_delete("/system/functions", self.delete)
        router.add_get(f"/system/function/{name}", self.function_status)
        router.add_post(f"/system/scale-function/{name}", self.scale)
        router.add_get("/system/secrets", self.list_secrets)
        router.add_post("/system/secrets", self.create_secret)
        router.add_put("/system/secrets", self.update_secret)
        router.add_delete("/system/secrets", self.delete_secret)
        router.add_get("/system/logs", self.logs)
        router.add_get("/system/namespaces", self.list_namespaces)
        for method in ("GET", "POST", "PUT", "DELETE"):
            router.add_route(method, "/system/namespace/{namespace:[^/]*}", self.namespace)

    # misc ------------------------------------------------------------------------------------------
    async def root(self, _: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/ui/")

    async def healthz(self, request: web.Request) -> web.Response:
        if request.app[DRAINING].is_set():  # shutting down: the load balancer should stop sending calls here
            raise Unavailable("the gateway is shutting down", retry_after=1)
        await self._provider.health()
        return web.Response(text="OK")

    async def info(self, _: web.Request) -> web.Response:
        provider_info = await self._provider.info()
        info = GatewayInfo(
            provider=provider_info,
            version=VersionInfo(sha="", release=self._version, commit_message=_COMMIT_MESSAGE),
            arch=gateway_arch(),
        )
        return web.json_response(info.wire())

    # functions -------------------------------------------------------------------------------------
    async def list_functions(self, request: web.Request) -> web.Response:
        namespace = namespace_of(request, self._default_namespace)
        functions = await self._provider.list_functions(namespace)
        counts = await self._invocation_counts(request.app.get(HTTP_SESSION), namespace, functions)
        body = [
            status.model_copy(
                update={"invocationCount": float(counts.get(qualified_name(status.name, namespace), 0))}
            ).wire()
            for status in functions
        ]
        return web.json_response(body)

    async def _invocation_counts(
        self, http: aiohttp.ClientSession | None, namespace: str, functions: list[FunctionStatus]
    ) -> dict[str, float]:
        """The gateway's own counts, or Prometheus's (over every gateway replica) when it answers."""
        own = {
            qualified_name(status.name, namespace): float(
                self._metrics.invocation_count(qualified_name(status.name, namespace))
            )
            for status in functions
        }
        if not functions or self._prometheus_url is None or http is None:
            return own
        selector = f'function_name=~".*.{namespace}"'
        query = f"sum(gateway_function_invocation_total{{{selector}}}) by (function_name)"
        try:
            async with http.get(
                f"{self._prometheus_url}/api/v1/query",
                params={"query": query},
                timeout=aiohttp.ClientTimeout(total=2.0),
            ) as response:
                payload: Any = await response.json(content_type=None)
            for item in payload["data"]["result"]:
                own[str(item["metric"]["function_name"])] = float(item["value"][1])
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.debug("Prometheus query failed, using own counters: %s", exc)
        return own

    async def _deployment(self, request: web.Request) -> FunctionDeployment:
        spec = await read_model(request, FunctionDeployment)
        validate_function_name(spec.service, field="service")
        validate_timeout_annotation(spec.annotations)
        namespace = spec.namespace or namespace_of(request, self._default_namespace)
        validate_namespace(namespace)
        return spec.model_copy(update={"namespace": namespace})

    async def deploy(self, request: web.Request) -> web.Response:
        await self._provider.deploy(await self._deployment(request))
        return _accepted()

    async def update(self, request: web.Request) -> web.Response:
        await self._provider.update(await self._deployment(request))
        return _accepted()

    async def delete(self, request: web.Request) -> web.Response:
        body = await read_model(request, DeleteFunctionRequest)
        validate_function_name(body.functionName, field="functionName")
        namespace = namespace_of(request, self._default_namespace, body.namespace)
        await self._provider.delete(body.functionName, namespace)
        return _accepted()

    async def function_status(self, request: web.Request) -> web.Response:
        name, namespace = _split_path_name(request, self._default_namespace)
        status = await self._provider.get_function(name, namespace)
        status = status.model_copy(
            update={"invocationCount": float(self._metrics.invocation_count(qualified_name(name, namespace)))}
        )
        return web.json_response(status.wire())

    async def scale(self, request: web.Request) -> web.Response:
        body = await read_model(request, ScaleServiceRequest)
        name, namespace = _split_path_name(request, self._default_namespace, body.namespace)
        status = await self._provider.get_function(name, namespace)
        policy = scaling_policy(status.labels)
        replicas = policy.clamp(body.replicas)
        headers: dict[str, str] = {}
        if replicas != body.replicas:
            headers[SCALE_CLAMPED_HEADER] = str(policy.max_replicas)
            log.info(
                "scale of %s.%s to %d clamped to com.openfaas.scale.max=%d",
                name,
                namespace,
                body.replicas,
                replicas,
            )
        await self._provider.scale(name, namespace, replicas)
        # OpenFaaS answers with an empty body (faas-cli reads none); who else sets the count is extra.
        ownership = replica_ownership(policy)
        headers[REPLICA_OWNER_HEADER] = ownership.header
        result = ScaleResult.of(name, namespace, replicas, ownership)
        return web.json_response(result.model_dump(mode="json"), status=202, headers=headers)

    # secrets ---------------------------------------------------------------------------------------
    async def list_secrets(self, request: web.Request) -> web.Response:
        namespace = namespace_of(request, self._default_namespace)
        secrets = await self._provider.list_secrets(namespace)
        return web.json_response(
            [Secret(name=s.name, namespace=s.namespace or namespace).wire() for s in secrets]
        )

    async def _secret(self, request: web.Request) -> Secret:
        secret = await read_model(request, Secret)
        validate_secret_name(secret.name)
        namespace = secret.namespace or namespace_of(request, self._default_namespace)
        validate_namespace(namespace)
        return secret.model_copy(update={"namespace": namespace})

    async def create_secret(self, request: web.Request) -> web.Response:
        await self._provider.create_secret(await self._secret(request))
        return _accepted()

    async def update_secret(self, request: web.Request) -> web.Response:
        await self._provider.update_secret(await self._secret(request))
        return _accepted()

    async def delete_secret(self, request: web.Request) -> web.Response:
        secret = await self._secret(request)
        await self._provider.delete_secret(secret.name, secret.namespace or self._default_namespace)
        return _accepted()

    # logs ------------------------------------------------------------------------------------------
    async def logs(self, request: web.Request) -> web.StreamResponse:
        raw_name = request.query.get("name", "")
        if not raw_name:
            raise ValidationFailed("name is required", field="name")
        name, dot, suffix = raw_name.rpartition(".")
        if not dot:
            name, suffix = raw_name, ""
        validate_function_name(name, field="name")
        namespace = namespace_of(request, self._default_namespace, suffix)
        log_request = LogRequest(
            name=name,
            namespace=namespace,
            instance=request.query.get("instance") or None,
            tail=query_int(request, "tail", 0),
            follow=query_bool(request, "follow", False),
            since=query_time(request, "since"),
        )
        await self._provider.get_function(name, namespace)  # 404 before the stream starts
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        messages = self._provider.logs(log_request)

        async def pump() -> None:
            async for message in messages:
                await response.write(json.dumps(message.wire()).encode() + b"\n")

        pumping = asyncio.create_task(pump())
        watching = asyncio.create_task(_until_disconnected(request))
        try:
            # A followed stream ends at write_timeout (as OpenFaaS's log proxy does) or when the client goes.
            done, _ = await asyncio.wait(
                {pumping, watching}, timeout=self._write_timeout, return_when="FIRST_COMPLETED"
            )
            if pumping in done and pumping.exception() is None:
                with contextlib.suppress(ConnectionResetError):
                    await response.write_eof()
        finally:
            for task in (pumping, watching):
                task.cancel()
            await asyncio.gather(pumping, watching, return_exceptions=True)
            aclose = getattr(messages, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        return response

    # namespaces ------------------------------------------------------------------------------------
    async def list_namespaces(self, _: web.Request) -> web.Response:
        return web.json_response(await self._provider.list_namespaces())

    async def namespace(self, request: web.Request) -> web.Response:
        name = request.match_info["namespace"]
        if not name:
            raise ValidationFailed("namespace name is required in the path", field="namespace")
        validate_namespace(name)
        if request.method == "GET":
            return web.json_response((await self._provider.get_namespace(name)).wire())
        if request.method == "DELETE":
            await self._provider.delete_namespace(name)
            return _accepted()
        body = FunctionNamespace(name=name)
        if (await request.read()).strip():
            body = await read_model(request, FunctionNamespace)
            if body.name and body.name != name:
                raise ValidationFailed(f"name {body.name!r} differs from the path's {name!r}", field="name")
            body = body.model_copy(update={"name": name})
        if request.method == "POST":
            await self._provider.create_namespace(body)
        else:
            await self._provider.update_namespace(body)
        return _accepted()
