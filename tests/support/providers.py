"""Provider test helpers: a started LocalProvider, function specs on disk, a faas-provider HTTP server.

``faas_provider_app(provider)`` serves any ``Provider`` with faas-provider's routes (contract §2.1), so the
``RemoteProvider`` can be tested against a real HTTP peer without the gateway. ``pyfaas_processes(state_dir)``
finds every process whose environment points into a state directory (replicas, their forked children and
the zygote), which is how tests prove that nothing is left running.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import os
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ValidationError

from pyfaas.core.errors import PyfaasError
from pyfaas.core.models import (
    DeleteFunctionRequest,
    FunctionDeployment,
    FunctionNamespace,
    ScaleServiceRequest,
    Secret,
)
from pyfaas.core.names import split_name
from pyfaas.core.replica_key import REPLICA_KEY_HEADER
from pyfaas.provider.base import LogRequest, Provider, Replica
from pyfaas.provider.local import LocalProvider, LocalProviderConfig

__all__ = [
    "faas_provider_app",
    "fork_function",
    "local_provider",
    "pyfaas_processes",
    "python_function",
    "replica_headers",
    "serve_app",
    "write_handler",
]


def replica_headers(replica: Replica) -> dict[str, str]:
    """What the gateway adds to reach a local replica directly (its key; pyfaas.core.replica_key)."""
    return {REPLICA_KEY_HEADER: replica.key} if replica.key else {}


# function specs ------------------------------------------------------------------------------------
def write_handler(directory: Path, body: str) -> Path:
    """Write a python3-http style ``handler.py`` (``handle(event, context)``) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "handler.py").write_text(textwrap.dedent(body))
    return directory


def python_function(name: str, handler_dir: Path, **fields: Any) -> FunctionDeployment:
    env = {"mode": "python", "handler": str(handler_dir), **fields.pop("envVars", {})}
    return FunctionDeployment(service=name, image="local", envVars=env, **fields)


def fork_function(name: str, process: str, **fields: Any) -> FunctionDeployment:
    env = {"mode": "fork", **fields.pop("envVars", {})}
    return FunctionDeployment(service=name, image="local", envProcess=process, envVars=env, **fields)


# local provider ----------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def local_provider(state_dir: Path, **overrides: Any) -> AsyncIterator[LocalProvider]:
    """A started LocalProvider on ``state_dir``; closed (all replicas stopped) on exit."""
    config = LocalProviderConfig(state_dir=state_dir, **overrides)
    provider = LocalProvider(config)
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()


def pyfaas_processes(state_dir: Path) -> list[int]:
    """PIDs of live processes whose environment mentions ``state_dir`` (replicas, their children, zygote)."""
    needle = str(state_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and (needle in environ or needle in cmdline):
            found.append(int(entry.name))
    return found


async def wait_no_processes(state_dir: Path, within: float = 10.0) -> list[int]:
    """Poll until no process refers to ``state_dir``; return what is left after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (left := pyfaas_processes(state_dir)) and loop.time() < deadline:  # noqa: ASYNC110 (polling /proc)
        await asyncio.sleep(0.05)
    return left


# a faas-provider HTTP server over any Provider ------------------------------------------------------
_PROVIDER: web.AppKey[Provider] = web.AppKey("provider", Provider)
_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)

_M = TypeVar("_M", bound=BaseModel)


async def _model(request: web.Request, model: type[_M]) -> _M:
    try:
        return model.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        field = ""
        if isinstance(exc, ValidationError):
            field = ".".join(map(str, exc.errors()[0]["loc"]))
        raise PyfaasErrorResponse(400, {"error": f"invalid {model.__name__}", "field": field}) from exc


class PyfaasErrorResponse(Exception):
    def __init__(self, status: int, body: dict[str, str]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def _namespace(request: web.Request, provider: Provider, body_namespace: str | None = None) -> str:
    return request.query.get("namespace") or body_namespace or provider.default_namespace


def faas_provider_app(provider: Provider, *, credentials: tuple[str, str] | None = None) -> web.Application:
    """faas-provider's routes over ``provider``: system API (basic auth when given) and function proxy."""

    @web.middleware
    async def errors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if credentials and request.path.startswith("/system/") and not _authorised(request, credentials):
            return web.Response(
                status=401, text="Unauthorized", headers={"WWW-Authenticate": 'Basic realm="Restricted"'}
            )
        try:
            return await handler(request)
        except PyfaasError as exc:
            return web.json_response(exc.to_json(), status=exc.status)
        except PyfaasErrorResponse as exc:
            return web.json_response(exc.body, status=exc.status)

    async def list_functions(request: web.Request) -> web.Response:
        items = await provider.list_functions(_namespace(request, provider))
        return web.json_response([f.wire() for f in items])

    async def get_function(request: web.Request) -> web.Response:
        status = await provider.get_function(request.match_info["name"], _namespace(request, provider))
        return web.json_response(status.wire())

    async def deploy(request: web.Request) -> web.Response:
        await provider.deploy(await _model(request, FunctionDeployment))
        return web.Response(status=202)

    async def update(request: web.Request) -> web.Response:
        await provider.update(await _model(request, FunctionDeployment))
        return web.Response(status=202)

    async def delete(request: web.Request) -> web.Response:
        body = await _model(request, DeleteFunctionRequest)
        await provider.delete(body.functionName, _namespace(request, provider, body.namespace))
        return web.Response(status=202)

    async def scale(request: web.Request) -> web.Response:
        body = await _model(request, ScaleServiceRequest)
        name = request.match_info["name"]
        await provider.scale(name, _namespace(request, provider, body.namespace), body.replicas)
        return web.Response(status=202)

    async def info(request: web.Request) -> web.Response:
        return web.json_response((await provider.info()).wire())

    async def healthz(request: web.Request) -> web.Response:
        await provider.health()
        return web.Response(text="OK")

    async def secrets(request: web.Request) -> web.Response:
        if request.method == "GET":
            items = await provider.list_secrets(_namespace(request, provider))
            return web.json_response([s.wire() for s in items])
        secret = await _model(request, Secret)
        if request.method == "POST":
            await provider.create_secret(secret)
        elif request.method == "PUT":
            await provider.update_secret(secret)
        else:
            await provider.delete_secret(secret.name, secret.namespace or provider.default_namespace)
        return web.Response(status=202)

    async def logs(request: web.Request) -> web.StreamResponse:
        query = request.query
        if not query.get("name"):
            raise PyfaasErrorResponse(400, {"error": "name is required", "field": "name"})
        try:
            tail = int(query.get("tail", "0") or 0)
            since = datetime.fromisoformat(query["since"]) if query.get("since") else None
        except ValueError as exc:
            raise PyfaasErrorResponse(422, {"error": "could not parse the log request"}) from exc
        log_request = LogRequest(
            name=query["name"],
            namespace=_namespace(request, provider),
            instance=query.get("instance") or None,
            tail=tail,
            follow=query.get("follow", "").lower() in ("1", "true"),
            since=since,
        )
        messages = provider.logs(log_request)
        first = await anext(aiter(messages), None)  # raises before the 200 when the function is absent
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        if first is not None:
            await response.write(json.dumps(first.wire()).encode() + b"\n")
            async for message in messages:
                await response.write(json.dumps(message.wire()).encode() + b"\n")
        await response.write_eof()
        return response

    async def namespaces(request: web.Request) -> web.Response:
        return web.json_response(await provider.list_namespaces())

    async def namespace(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if request.method == "GET":
            return web.json_response((await provider.get_namespace(name)).wire())
        if request.method == "DELETE":
            await provider.delete_namespace(name)
            return web.Response(status=202)
        body = await _model(request, FunctionNamespace)
        body = body.model_copy(update={"name": name})
        if request.method == "POST":
            await provider.create_namespace(body)
        else:
            await provider.update_namespace(body)
        return web.Response(status=202)

    async def proxy(request: web.Request) -> web.Response:
        name, ns = split_name(request.match_info["name"], provider.default_namespace)
        replicas = await provider.ready_replicas(name, ns)
        if not replicas:
            return web.Response(status=503, text=f"No endpoints available for: {name}.")
        target = replicas[0].url + "/" + request.match_info.get("path", "")
        async with request.app[_SESSION].request(
            request.method,
            target,
            params=request.query,
            data=await request.read(),
            headers={
                **{k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")},
                **replica_headers(replicas[0]),
            },
        ) as upstream:
            body = await upstream.read()
            return web.Response(status=upstream.status, body=body, content_type=upstream.content_type)

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        app[_SESSION] = aiohttp.ClientSession()
        yield
        await app[_SESSION].close()

    app = web.Application(middlewares=[errors])
    app[_PROVIDER] = provider
    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/system/functions", list_functions)
    app.router.add_post("/system/functions", deploy)
    app.router.add_put("/system/functions", update)
    app.router.add_delete("/system/functions", delete)
    app.router.add_get("/system/function/{name}", get_function)
    app.router.add_post("/system/scale-function/{name}", scale)
    app.router.add_get("/system/info", info)
    app.router.add_route("*", "/system/secrets", secrets)
    app.router.add_get("/system/logs", logs)
    app.router.add_get("/system/namespaces", namespaces)
    app.router.add_route("*", "/system/namespace/{name}", namespace)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/function/{name}", proxy)
    app.router.add_route("*", "/function/{name}/{path:.*}", proxy)
    return app


def _authorised(request: web.Request, credentials: tuple[str, str]) -> bool:
    header = request.headers.get("Authorization", "")
    expected = "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
    return hmac.compare_digest(header.encode(), expected.encode())


@contextlib.asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on an ephemeral loopback port; yield its base URL."""
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    addresses = runner.addresses
    assert addresses, "the test server is not listening"
    port = addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
