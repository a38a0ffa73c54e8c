"""The portal's store: every source of the gateway's ``store_sources`` by its own name, and deploys from it.

* ``GET /system/ui/store``: the sources in order, each ``up`` or down with its ``error`` (a down source with
  a cached copy still lists it, ``stale``); every entry says whether it runs on this gateway's provider and,
  when not, why (``reason``), and which secrets it needs.
* ``POST /system/ui/store/deployment`` ``{"source", "name", "namespace"?, "service"?}``: the
  ``FunctionDeployment`` that runs the entry here. In local mode its handler folder is fetched (listed files
  over HTTP, or a git clone) into the gateway's store cache and, for a template other than Python's, built
  with the machine's toolchain. The portal creates the secrets it prompted for, then POSTs the deployment
  to ``/system/functions`` like any other.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from pyfaas.core.errors import NotFound, ProviderError, PyfaasError, ValidationFailed
from pyfaas.core.models import FunctionDeployment
from pyfaas.core.names import validate_function_name
from pyfaas.gateway.inputs import read_model
from pyfaas.gateway.keys import PROVIDER, SETTINGS
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.gateway.ui.api import LOCAL_PROVIDER
from pyfaas.store.catalog import DEFAULT_PLATFORM, PYTHON_LANGS, StoreFunction, unavailable_reason
from pyfaas.store.handlers import handler_folder
from pyfaas.store.sources import SourceResult, StoreSource, load_source, load_sources, parse_sources

__all__ = ["DeploymentRequest", "StoreApi"]


class DeploymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(..., min_length=1)
    name: str = Field(..., min_length=1)
    namespace: str = ""
    service: str = ""
    """Deploy under another name (default: the entry's)."""


class StoreNotFound(NotFound):
    """No such store source or entry."""


def _cache_dir(settings: GatewaySettings) -> Path:
    return Path(settings.store_cache_dir or os.path.join(settings.state_dir, "store-cache"))


def _entry(entry: StoreFunction, *, local: bool) -> dict[str, Any]:
    reason = unavailable_reason(entry, local=local, platform=DEFAULT_PLATFORM)
    return {
        "name": entry.name,
        "title": entry.title or entry.name,
        "description": entry.description,
        "author": entry.author,
        "repoUrl": entry.repo_url,
        "lang": entry.lang,
        "image": entry.image(DEFAULT_PLATFORM),
        "labels": entry.labels,
        "secrets": entry.secrets,
        "runnable": not reason,
        "reason": reason,
    }


def _source(result: SourceResult, *, local: bool) -> dict[str, Any]:
    catalog = result.catalog
    return {
        "name": result.source.name,
        "location": result.source.index if result.source.location else "bundled with pyfaas",
        "title": (catalog.title if catalog else "")
        or ("pyfaas store" if not result.source.location else result.source.name),
        "format": catalog.format if catalog else "",
        "up": result.up,
        "error": result.error,
        "stale": result.stale,
        "functions": [_entry(entry, local=local) for entry in result.functions],
    }


class StoreApi:
    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/system/ui/store", self.list)
        router.add_post("/system/ui/store/deployment", self.deployment)

    @staticmethod
    async def _local(request: web.Request) -> bool:
        return (await request.app[PROVIDER].info()).provider == LOCAL_PROVIDER

    async def list(self, request: web.Request) -> web.Response:
        settings = request.app[SETTINGS]
        sources = parse_sources(settings.store_sources)
        results = await asyncio.to_thread(
            load_sources, sources, cache_dir=_cache_dir(settings), timeout=settings.store_timeout
        )
        local = await self._local(request)
        return web.json_response(
            {
                "local": local,
                "platform": DEFAULT_PLATFORM,
                "sources": [_source(result, local=local) for result in results],
            }
        )

    async def deployment(self, request: web.Request) -> web.Response:
        settings = request.app[SETTINGS]
        wanted = await read_model(request, DeploymentRequest)
        source = next((s for s in parse_sources(settings.store_sources) if s.name == wanted.source), None)
        if source is None:
            raise StoreNotFound(f"no store named {wanted.source!r} on this gateway", field="source")
        result = await asyncio.to_thread(
            load_source, source, cache_dir=_cache_dir(settings), timeout=settings.store_timeout
        )
        entry = result.catalog.find(wanted.name) if result.catalog is not None else None
        if entry is None:
            detail = f" (store is down: {result.error})" if result.catalog is None else ""
            raise StoreNotFound(f"{wanted.name!r} is not in store {source.name}{detail}", field="name")
        service = validate_function_name(wanted.service or entry.name, field="service")
        local = await self._local(request)
        reason = unavailable_reason(entry, local=local, platform=DEFAULT_PLATFORM)
        if reason:
            raise ValidationFailed(f"{entry.name} cannot run on this gateway: {reason}", field="name")
        namespace = wanted.namespace or None
        if local and entry.has_source:
            try:
                spec = await asyncio.to_thread(_local_deployment, source, entry, service, namespace, settings)
            except PyfaasError as exc:
                if 400 <= exc.status < 500:
                    raise
                # the store's files could not be fetched or built: the upstream's failure, not the caller's
                raise ProviderError(exc.message, field=exc.field or "name") from exc
        else:
            spec = entry.deployment(local=local, platform=DEFAULT_PLATFORM, name=service, namespace=namespace)
        return web.json_response({"deployment": spec.wire(), "store": source.name, "secrets": entry.secrets})


def _local_deployment(
    source: StoreSource, entry: StoreFunction, service: str, namespace: str | None, settings: GatewaySettings
) -> FunctionDeployment:
    """Fetch the entry's handler folder and, for a template other than Python's, build it (in a thread)."""
    folder = handler_folder(
        entry, source.index, cache_dir=_cache_dir(settings), timeout=settings.store_timeout
    )
    if entry.lang in PYTHON_LANGS - {"python3"}:
        return entry.model_copy(update={"handler_path": folder}).deployment(
            local=True, name=service, namespace=namespace
        )
    from pyfaas.provider.local.function_build import build_function
    from pyfaas.provider.local.templates import find_template

    template = find_template(entry.lang, folder.parent)
    if template is None:
        raise ValidationFailed(f"{entry.name}: no template {entry.lang!r} on this gateway", field="name")
    spec = entry.source_deployment(name=service, namespace=namespace)
    built = build_function(name=service, template=template, handler_dir=folder, environ=os.environ)
    env = {**built.env, **(spec.envVars or {})}
    if built.env.get("mode") == "http":  # the template's server listens where the watchdog says
        env["upstream_url"] = built.env["upstream_url"]
        env.pop("http_upstream_url", None)
    return spec.model_copy(update={"envVars": env, "envProcess": built.fprocess})
