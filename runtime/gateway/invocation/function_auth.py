"""Private functions: ``/function/NAME`` and ``/async-function/NAME`` need a credential when the function is
annotated (or labelled) ``com.pyfaas.private: "true"``.

The credential comes as ``Authorization: Bearer <API key or token>`` (see
``pyfaas.gateway.invocation.credentials``): none or a bad one gets 401 with ``WWW-Authenticate: Bearer``, a
genuine one for another function 403. The header is removed before the call goes on, so the function never
sees it (nor does the queue). An async call is checked at submission; the queued request then carries a token
the gateway minted for that function alone (``async_ttl``), which is how the worker's later call through
``/function/NAME`` passes.

Public functions pay one dictionary lookup: whether a function is private is cached per raw name, read from
the provider on a miss and forgotten when its replicas change (a redeploy) or a ``/system/functions`` write
passes through this gateway. Concurrent misses share one read, and the status read is handed to the call
(``CALL_STATUS``) so the router's first look at the function (timeout, scale from zero) is not a second read.
Keys and signing keys are managed under ``/system/function-keys/NAME`` and
``/system/function-token-keys`` (behind the gateway's basic auth).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict
from pydantic import BaseModel, ConfigDict, Field

from pyfaas.core.errors import FunctionNotFound, NotFound, ValidationFailed
from pyfaas.core.models import FunctionStatus
from pyfaas.core.names import split_name, validate_function_name, validate_namespace
from pyfaas.gateway.inputs import read_model
from pyfaas.gateway.invocation.credentials import (
    CredentialStore,
    Verdict,
    function_audience,
    namespace_audience,
)
from pyfaas.gateway.invocation.routing import CALL_STATUS
from pyfaas.provider.base import Provider, Replica

__all__ = ["ASYNC_CALL_TOKEN_TTL", "PRIVATE", "FunctionGuard", "is_private", "setup_function_auth"]

log = logging.getLogger("pyfaas.gateway")

PRIVATE = "com.pyfaas.private"
"""Annotation (or label) that makes a function private when "true"."""
_SYNC, _ASYNC = "/function/", "/async-function/"
ASYNC_CALL_TOKEN_TTL = 7 * 86400.0
"""Seconds a queued private call stays callable by the worker (retries included)."""
_CHALLENGE = 'Bearer realm="pyfaas", error="invalid_token"'


def is_private(labels: dict[str, str] | None, annotations: dict[str, str] | None) -> bool:
    value = (annotations or {}).get(PRIVATE) or (labels or {}).get(PRIVATE) or ""
    return value.strip().lower() in ("true", "1", "yes")


def _unauthorized(message: str) -> web.Response:
    return web.json_response(
        {"error": message, "field": "Authorization"}, status=401, headers={"WWW-Authenticate": _CHALLENGE}
    )


class FunctionGuard:
    def __init__(
        self, provider: Provider, store: CredentialStore, *, default_namespace: str, async_ttl: float
    ) -> None:
        self.provider = provider
        self.store = store
        self.default_namespace = default_namespace
        self.async_ttl = async_ttl
        self._private: dict[str, bool] = {}
        self._reads: dict[str, asyncio.Task[FunctionStatus | None]] = {}

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        """A shared credential backend is read (and followed) once the provider has started."""
        await self.store.start()
        try:
            yield
        finally:
            await self.store.close()

    def forget(self, *_: object) -> None:
        self._private.clear()

    def on_replicas(self, name: str, namespace: str, replicas: list[Replica]) -> None:
        self.forget()

    async def _read(self, raw: str) -> FunctionStatus | None:
        name, namespace = split_name(raw, self.default_namespace)
        try:
            status = await self.provider.get_function(name, namespace)
        except (FunctionNotFound, NotFound):
            return None  # the route answers 404 (not cached: it may be deployed next)
        self._private[raw] = is_private(status.labels, status.annotations)
        return status

    async def _lookup(self, raw: str) -> FunctionStatus | None:
        """The function's status, one provider read shared by the concurrent first calls of ``raw``."""
        read = self._reads.get(raw)
        if read is None:
            read = self._reads[raw] = asyncio.get_running_loop().create_task(self._read(raw))
            read.add_done_callback(lambda done: self._read_done(raw, done))
        return await asyncio.shield(read)  # a caller that gives up does not cancel the others' read

    def _read_done(self, raw: str, read: asyncio.Task[FunctionStatus | None]) -> None:
        if self._reads.get(raw) is read:
            del self._reads[raw]
        with contextlib.suppress(asyncio.CancelledError):
            read.exception()  # observed even when every caller has given up

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(_SYNC):
            raw, asynchronous = path[len(_SYNC) :].partition("/")[0], False
        elif path.startswith(_ASYNC):
            raw, asynchronous = path[len(_ASYNC) :].partition("/")[0], True
        else:
            if path.startswith("/system/function") and request.method != "GET":
                try:
                    return await handler(request)
                finally:
                    self.forget()
            return await handler(request)
        private = self._private.get(raw)
        if private is None:
            status = await self._lookup(raw)
            if status is None:
                return await handler(request)
            request[CALL_STATUS] = status  # the router starts from it (kept by the clone below)
            private = is_private(status.labels, status.annotations)
        if not private:
            return await handler(request)
        return await self._guarded(request, handler, raw, asynchronous)

    async def _guarded(
        self, request: web.Request, handler: Handler, raw: str, asynchronous: bool
    ) -> web.StreamResponse:
        name, namespace = split_name(raw, self.default_namespace)
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return _unauthorized(f"function {name} is private: send Authorization: Bearer <key or token>")
        verdict = self.store.verify(credential.strip(), name, namespace)
        if verdict is Verdict.INVALID and await self.store.refreshed():  # made on another gateway replica?
            verdict = self.store.verify(credential.strip(), name, namespace)
        if verdict is Verdict.INVALID:
            return _unauthorized(f"invalid, expired or revoked credential for function {name}")
        if verdict is Verdict.OTHER_FUNCTION:
            return web.json_response(
                {
                    "error": f"the credential is not valid for function {name}.{namespace}",
                    "field": "Authorization",
                },
                status=403,
            )
        headers = CIMultiDict(request.headers)
        del headers["Authorization"]  # never reaches the function
        if asynchronous:  # the queued call carries the gateway's own token for this function only
            token, _ = await self.store.mint(
                function_audience(name, namespace), self.async_ttl, {"async": True}
            )
            headers["Authorization"] = f"Bearer {token}"
        return await handler(request.clone(headers=headers))


# management API ---------------------------------------------------------------------------------------
class CreateKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(default="", max_length=100)


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ttl: int = Field(default=3600, ge=1, le=366 * 86400, description="Seconds until the token expires.")
    scope: Literal["function", "namespace"] = "function"


_GUARD: web.AppKey[FunctionGuard] = web.AppKey("function_guard", FunctionGuard)


def _target(request: web.Request, guard: FunctionGuard) -> tuple[str, str]:
    name = request.match_info["name"]
    namespace = request.query.get("namespace") or guard.default_namespace
    validate_function_name(name, "name")
    validate_namespace(namespace, "namespace")
    return name, namespace


async def _exists(guard: FunctionGuard, name: str, namespace: str) -> None:
    await guard.provider.get_function(name, namespace)  # FunctionNotFound → 404 naming it


async def _list_keys(request: web.Request) -> web.Response:
    guard = request.app[_GUARD]
    name, namespace = _target(request, guard)
    return web.json_response([r.public() for r in guard.store.keys_of(name, namespace)])


async def _create_key(request: web.Request) -> web.Response:
    guard = request.app[_GUARD]
    name, namespace = _target(request, guard)
    body = await read_model(request, CreateKey) if request.can_read_body else CreateKey()
    await _exists(guard, name, namespace)
    record, key = await guard.store.create_key(name, namespace, body.label)
    log.info("API key %s created for %s.%s", record.id, name, namespace)  # the id only, never the key
    return web.json_response({**record.public(), "key": key}, status=201)


async def _revoke_key(request: web.Request) -> web.Response:
    guard = request.app[_GUARD]
    name, namespace = _target(request, guard)
    key_id = request.match_info["key_id"]
    if not await guard.store.revoke(name, namespace, key_id):
        raise NotFound(f"no key {key_id!r} for function {name}.{namespace}", field="id")
    log.info("API key %s of %s.%s revoked", key_id, name, namespace)
    return web.Response(status=204)


async def _create_token(request: web.Request) -> web.Response:
    guard = request.app[_GUARD]
    name, namespace = _target(request, guard)
    body = await read_model(request, CreateToken) if request.can_read_body else CreateToken()
    await _exists(guard, name, namespace)
    audience = (
        function_audience(name, namespace) if body.scope == "function" else namespace_audience(namespace)
    )
    token, expires = await guard.store.mint(audience, body.ttl)
    return web.json_response({"token": token, "audience": audience, "expires": expires}, status=201)


async def _list_signing_keys(request: web.Request) -> web.Response:
    ring = request.app[_GUARD].store.ring
    return web.json_response([{"kid": k.kid, "created": k.created, "signing": k is ring[-1]} for k in ring])


async def _rotate(request: web.Request) -> web.Response:
    key = await request.app[_GUARD].store.rotate()
    return web.json_response({"kid": key.kid, "created": key.created, "signing": True}, status=201)


async def _retire(request: web.Request) -> web.Response:
    kid = request.match_info["kid"]
    store = request.app[_GUARD].store
    if not any(k.kid == kid for k in store.ring):
        raise NotFound(f"no signing key {kid!r}", field="kid")
    if not await store.retire(kid):
        raise ValidationFailed("the last signing key cannot be removed: rotate first", field="kid")
    return web.Response(status=204)


def setup_function_auth(app: web.Application, guard: FunctionGuard) -> None:
    app[_GUARD] = guard
    guard.provider.subscribe(guard.on_replicas)
    add = app.router.add_route
    add("GET", "/system/function-keys/{name}", _list_keys)
    add("POST", "/system/function-keys/{name}", _create_key)
    add("DELETE", "/system/function-keys/{name}/{key_id}", _revoke_key)
    add("POST", "/system/function-tokens/{name}", _create_token)
    add("GET", "/system/function-token-keys", _list_signing_keys)
    add("POST", "/system/function-token-keys", _rotate)
    add("DELETE", "/system/function-token-keys/{kid}", _retire)
