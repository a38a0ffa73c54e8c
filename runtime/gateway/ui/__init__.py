"""The web portal: a single page at ``/ui/`` (plain ES modules + CSS, no build step) and its JSON helpers.

``setup_ui(app)`` is called by the gateway's ``create_app`` when this package is present. It registers:

* ``GET /ui`` → ``/ui/``, ``GET /ui/`` (the page) and ``GET /ui/<asset>`` (files of ``assets/``, read once);
* ``GET /ui/theme.css`` and ``GET /ui/brand-logo``: the company theme of :mod:`pyfaas.gateway.ui.theme`;
* the ``/system/ui/*`` endpoints of :mod:`pyfaas.gateway.ui.api` and :mod:`pyfaas.gateway.ui.store`;
* a sampler (``cleanup_ctx``) that records every function's calls, errors and latency once a second.

Both ``/ui/`` and ``/system/`` are behind the gateway's basic auth, so the browser asks once and sends the
same credentials with every ``fetch``. Pages send a Content-Security-Policy that allows only this origin:
the portal works offline and cannot load anything from elsewhere.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from pyfaas.core.resources import package_path
from pyfaas.gateway.keys import METRICS, SETTINGS
from pyfaas.gateway.ui.api import UiApi
from pyfaas.gateway.ui.series import SeriesStore, run_sampler
from pyfaas.gateway.ui.store import StoreApi
from pyfaas.gateway.ui.theme import setup_theme

__all__ = ["ASSETS_DIR", "SERIES", "setup_ui"]

ASSETS_DIR = package_path("pyfaas.gateway.ui", "assets")
SERIES: web.AppKey[SeriesStore] = web.AppKey("ui_series", SeriesStore)
"""The in-memory chart series (tests and other extensions may read it)."""

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str


def _load_assets(directory: Path) -> dict[str, _Asset]:
    assets: dict[str, _Asset] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        body = path.read_bytes()
        guessed = mimetypes.guess_type(path.name)[0]
        content_type = _TYPES.get(path.suffix) or guessed or "application/octet-stream"
        assets[path.name] = _Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return assets


def setup_ui(app: web.Application, *, sample_interval: float = 1.0, window_seconds: float = 300.0) -> None:
    """Register the portal on the gateway ``app`` (after ``create_app`` stored METRICS)."""
    assets = _load_assets(ASSETS_DIR)
    store = SeriesStore(window_seconds=window_seconds, interval=sample_interval)
    app[SERIES] = store

    def respond(request: web.Request, name: str) -> web.Response:
        asset = assets.get(name)
        if asset is None:
            raise web.HTTPNotFound()
        headers = {**_SECURITY_HEADERS, "ETag": asset.etag}
        if request.headers.get("If-None-Match") == asset.etag:
            return web.Response(status=304, headers=headers)
        charset = "utf-8" if asset.content_type.startswith("text/") else None
        return web.Response(
            body=asset.body, content_type=asset.content_type, charset=charset, headers=headers
        )

    async def page(request: web.Request) -> web.Response:
        return respond(request, "index.html")

    async def asset(request: web.Request) -> web.Response:
        return respond(request, request.match_info["file"])

    async def to_page(_: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect("/ui/")

    app.router.add_get("/ui", to_page)
    app.router.add_get("/ui/", page)
    setup_theme(app, app[SETTINGS], _SECURITY_HEADERS)
    app.router.add_get("/ui/{file:[A-Za-z0-9_-]+\\.[a-z]+}", asset)
    UiApi(store).register(app.router)
    StoreApi().register(app.router)

    async def sampler(app: web.Application) -> AsyncIterator[None]:
        metrics = app[METRICS]
        async for _ in run_sampler(store, metrics.invocation_total, metrics.functions_seconds):
            yield

    app.cleanup_ctx.append(sampler)
