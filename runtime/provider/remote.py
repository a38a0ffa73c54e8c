"""``RemoteProvider``: the Provider protocol over any faas-provider HTTP API (faasd, faas-netes, pyfaas).

Every call is one HTTP request with ``httpx.AsyncClient``; status codes map to the error tree (400/422 →
``ValidationFailed``, 404 → the matching ``NotFound``, 409 → the matching ``Conflict``, 401/403 and 5xx →
``ProviderError``), and transport failures become ``ProviderError``, so no httpx exception leaves this module.

Invocation goes through the remote side's function proxy: a function has a single ``Replica`` whose url is
``<base>/function/<name>.<namespace>`` (the gateway appends the sub-path). Its availability comes from the
remote status (``availableReplicas``), cached for ``status_ttl`` seconds so that routing costs no request per
invocation; after ``scale`` the status is polled until replicas are available, and listeners are told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from pyfaas.core.errors import (
    Conflict,
    FunctionExists,
    FunctionNotFound,
    NamespaceNotFound,
    NotFound,
    ProviderError,
    PyfaasError,
    SecretExists,
    SecretNotFound,
    ValidationFailed,
)
from pyfaas.core.models import (
    DeleteFunctionRequest,
    FunctionDeployment,
    FunctionNamespace,
    FunctionStatus,
    LogMessage,
    ProviderInfo,
    ScaleServiceRequest,
    Secret,
    format_rfc3339,
)
from pyfaas.provider.base import LogRequest, Replica, ReplicaListener
from pyfaas.provider.listeners import ReplicaListeners

__all__ = ["RemoteProvider"]

log = logging.getLogger("pyfaas.provider.remote")

_M = TypeVar("_M", bound=BaseModel)


@dataclass(slots=True)
class _Availability:
    replica: Replica
    available: int
    fetched_at: float


class RemoteProvider:
    """A faas-provider reached over HTTP at ``base_url`` (e.g. ``http://127.0.0.1:8081``)."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: tuple[str, str] | None = None,
        default_namespace: str = "openfaas-fn",
        timeout: float = 30.0,
        status_ttl: float = 1.0,
        scale_poll_interval: float = 0.05,
        scale_poll_for: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.default_namespace = default_namespace
        self._credentials = credentials
        self._timeout = timeout
        self._status_ttl = status_ttl
        self._poll_interval = scale_poll_interval
        self._poll_for = scale_poll_for
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._listeners = ReplicaListeners()
        self._availability: dict[tuple[str, str], _Availability] = {}
        self._refreshing: dict[tuple[str, str], asyncio.Task[_Availability]] = {}
        self._pollers: dict[tuple[str, str], asyncio.Task[None]] = {}

    # lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                auth=httpx.BasicAuth(*self._credentials) if self._credentials else None,
                timeout=httpx.Timeout(self._timeout),
                transport=self._transport,
            )

    async def close(self) -> None:
        for task in [*self._pollers.values(), *self._refreshing.values()]:
            task.cancel()
        for task in [*self._pollers.values(), *self._refreshing.values()]:
            with contextlib.suppress(asyncio.CancelledError, PyfaasError):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # transport -------------------------------------------------------------------------------------
    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise ProviderError("the remote provider is not started")
        return self._client

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        not_found: type[NotFound] = NotFound,
        conflict: type[Conflict] = Conflict,
    ) -> httpx.Response:
        try:
            response = await self.client.request(
                method, path, params=params, json=body if body is not None else None
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"{method} {self.base_url}{path} failed: {exc}") from exc
        _raise_for(response, not_found=not_found, conflict=conflict)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(f"the provider sent invalid JSON for {response.request.url.path}") from exc

    def _ns(self, namespace: str | None) -> str:
        return namespace or self.default_namespace

    async def info(self) -> ProviderInfo:
        data = self._json(await self._call("GET", "/system/info"))
        # A pyfaas or OpenFaaS *gateway* answers GatewayInfo, whose "provider" holds the ProviderInfo.
        if isinstance(data, dict) and isinstance(data.get("provider"), dict):
            data = data["provider"]
        return _parse(ProviderInfo, data)

    async def health(self) -> None:
        await self._call("GET", "/healthz")

    # functions -------------------------------------------------------------------------------------
    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        data = self._json(
            await self._call("GET", "/system/functions", params={"namespace": self._ns(namespace)})
        )
        if not isinstance(data, list):
            raise ProviderError("the provider's function list is not a JSON array")
        return [_parse(FunctionStatus, item) for item in data]

    async def get_function(self, name: str, namespace: str) -> FunctionStatus:
        response = await self._call(
            "GET",
            f"/system/function/{name}",
            params={"namespace": self._ns(namespace), "usage": "false"},
            not_found=FunctionNotFound,
        )
        status = _parse(FunctionStatus, self._json(response))
        self._observe(name, self._ns(namespace), status.availableReplicas)
        return status

    async def deploy(self, spec: FunctionDeployment) -> None:
        await self._call("POST", "/system/functions", body=spec.wire(), conflict=FunctionExists)

    async def update(self, spec: FunctionDeployment) -> None:
        await self._call("PUT", "/system/functions", body=spec.wire(), not_found=FunctionNotFound)

    async def delete(self, name: str, namespace: str) -> None:
        namespace = self._ns(namespace)
        request = DeleteFunctionRequest(functionName=name, namespace=namespace)
        await self._call(
            "DELETE",
            "/system/functions",
            params={"namespace": namespace},  # faas-netes reads the query, faasd and pyfaas the body
            body=request.wire(),
            not_found=FunctionNotFound,
        )
        self._availability.pop((namespace, name), None)
        self._listeners.notify(name, namespace, [])

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        namespace = self._ns(namespace)
        request = ScaleServiceRequest(serviceName=name, replicas=replicas, namespace=namespace)
        await self._call(
            "POST",
            f"/system/scale-function/{name}",
            params={"namespace": namespace},
            body=request.wire(),
            not_found=FunctionNotFound,
        )
        self._poll_after_scale(name, namespace, replicas)

    # invocation ------------------------------------------------------------------------------------
    async def ready_replicas(self, name: str, namespace: str) -> list[Replica]:
        key = (self._ns(namespace), name)
        entry = self._availability.get(key)
        if entry is None or time.monotonic() - entry.fetched_at > self._status_ttl:
            entry = await self._refresh(key)
        return [entry.replica] if entry.available > 0 else []

    async def _refresh(self, key: tuple[str, str]) -> _Availability:
        # Concurrent callers share one status request per function.
        task = self._refreshing.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(key))
            self._refreshing[key] = task
            task.add_done_callback(lambda _t: self._refreshing.pop(key, None))
        return await asyncio.shield(task)

    async def _fetch(self, key: tuple[str, str]) -> _Availability:
        namespace, name = key
        await self.get_function(name, namespace)
        return self._availability[key]

    def _observe(self, name: str, namespace: str, available: int) -> None:
        key = (namespace, name)
        entry = self._availability.get(key)
        if entry is None:
            replica = Replica(id=f"{name}.{namespace}", url=f"{self.base_url}/function/{name}.{namespace}")
            entry = self._availability[key] = _Availability(replica, -1, 0.0)
        changed = (entry.available > 0) != (available > 0) or entry.available < 0
        entry.available = available
        entry.fetched_at = time.monotonic()
        if changed:
            self._listeners.notify(name, namespace, [entry.replica] if available > 0 else [])

    def _poll_after_scale(self, name: str, namespace: str, replicas: int) -> None:
        key = (namespace, name)
        previous = self._pollers.pop(key, None)
        if previous is not None:
            previous.cancel()
        if replicas > 0:
            self._pollers[key] = asyncio.create_task(self._poll(name, namespace))
        else:
            self._availability.pop(key, None)

    async def _poll(self, name: str, namespace: str) -> None:
        deadline = time.monotonic() + self._poll_for
        try:
            while time.monotonic() < deadline:
                with contextlib.suppress(ProviderError):
                    if (await self.get_function(name, namespace)).availableReplicas > 0:
                        return
                await asyncio.sleep(self._poll_interval)
        except FunctionNotFound:
            return
        finally:
            self._pollers.pop((namespace, name), None)

    def subscribe(self, listener: ReplicaListener) -> None:
        self._listeners.subscribe(listener)

    # secrets ---------------------------------------------------------------------------------------
    async def list_secrets(self, namespace: str) -> list[Secret]:
        data = self._json(
            await self._call("GET", "/system/secrets", params={"namespace": self._ns(namespace)})
        )
        if not isinstance(data, list):
            raise ProviderError("the provider's secret list is not a JSON array")
        return [_parse(Secret, item).description() for item in data]

    async def create_secret(self, secret: Secret) -> None:
        await self._call("POST", "/system/secrets", body=self._secret_body(secret), conflict=SecretExists)

    async def update_secret(self, secret: Secret) -> None:
        await self._call("PUT", "/system/secrets", body=self._secret_body(secret), not_found=SecretNotFound)

    async def delete_secret(self, name: str, namespace: str) -> None:
        body = Secret(name=name, namespace=self._ns(namespace)).wire()
        await self._call("DELETE", "/system/secrets", body=body, not_found=SecretNotFound)

    def _secret_body(self, secret: Secret) -> dict[str, Any]:
        return secret.model_copy(update={"namespace": self._ns(secret.namespace)}).wire()

    # logs ------------------------------------------------------------------------------------------
    async def logs(self, request: LogRequest) -> AsyncIterator[LogMessage]:
        params = {"name": request.name, "namespace": self._ns(request.namespace)}
        if request.instance:
            params["instance"] = request.instance
        if request.tail > 0:
            params["tail"] = str(request.tail)
        if request.follow:
            params["follow"] = "true"
        if request.since is not None:
            params["since"] = format_rfc3339(request.since)
        timeout = httpx.Timeout(self._timeout, read=None if request.follow else self._timeout)
        try:
            async with self.client.stream("GET", "/system/logs", params=params, timeout=timeout) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _raise_for(response, not_found=FunctionNotFound, conflict=Conflict)
                async for line in response.aiter_lines():
                    if line.strip():
                        yield _parse(LogMessage, _loads(line))
        except httpx.HTTPError as exc:
            raise ProviderError(f"log stream from {self.base_url} failed: {exc}") from exc

    # namespaces ------------------------------------------------------------------------------------
    async def list_namespaces(self) -> list[str]:
        data = self._json(await self._call("GET", "/system/namespaces"))
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            raise ProviderError("the provider's namespace list is not a JSON array of strings")
        return list(data)

    async def get_namespace(self, name: str) -> FunctionNamespace:
        response = await self._call("GET", f"/system/namespace/{name}", not_found=NamespaceNotFound)
        return _parse(FunctionNamespace, self._json(response))

    async def create_namespace(self, namespace: FunctionNamespace) -> None:
        await self._call("POST", f"/system/namespace/{namespace.name}", body=namespace.wire())

    async def update_namespace(self, namespace: FunctionNamespace) -> None:
        await self._call(
            "PUT", f"/system/namespace/{namespace.name}", body=namespace.wire(), not_found=NamespaceNotFound
        )

    async def delete_namespace(self, name: str) -> None:
        await self._call("DELETE", f"/system/namespace/{name}", not_found=NamespaceNotFound)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ProviderError(f"the provider sent a log line that is not JSON: {text[:200]!r}") from exc


def _parse(model: type[_M], data: Any) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProviderError(
            f"the provider sent an invalid {model.__name__}: {exc.errors()[0]['msg']}"
        ) from exc


def _error_text(response: httpx.Response) -> tuple[str, str | None]:
    """The message (and field) of an error response: pyfaas JSON ``{"error", "field"}`` or plain text."""
    text = response.text.strip()
    with contextlib.suppress(ValueError):
        body = json.loads(text)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            field = body.get("field")
            return body["error"], field if isinstance(field, str) else None
    return text or response.reason_phrase, None


def _raise_for(response: httpx.Response, *, not_found: type[NotFound], conflict: type[Conflict]) -> None:
    code = response.status_code
    if code < 400:
        return
    message, field = _error_text(response)
    if code in (400, 422):
        raise ValidationFailed(message, field=field)
    if code == 404:
        raise not_found(message, field=field)
    if code == 409:
        raise conflict(message, field=field)
    if code in (401, 403):
        raise ProviderError(f"the provider refused the credentials ({code}): {message}")
    raise ProviderError(f"the provider answered {code}: {message}", field=field)
