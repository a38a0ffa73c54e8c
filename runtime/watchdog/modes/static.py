"""``static`` mode: files under ``static_path``, never outside it (``..`` and symlinks are resolved
first); a directory serves its ``index.html``."""

from __future__ import annotations

import os

from aiohttp import web
from aiohttp.web_request import BaseRequest

from pyfaas.watchdog.httputil import plain
from pyfaas.watchdog.runner import RunnerContext, StartupFailed

__all__ = ["StaticRunner", "resolve_inside"]


def resolve_inside(root: str, url_path: str) -> str | None:
    """The real file for ``url_path`` under ``root``, or ``None`` if it would leave ``root``."""
    candidate = os.path.realpath(os.path.join(root, url_path.lstrip("/")))
    if candidate != root and not candidate.startswith(root + os.sep):
        return None
    if os.path.isdir(candidate):
        candidate = os.path.join(candidate, "index.html")
    return candidate if os.path.isfile(candidate) else None


class StaticRunner:
    def __init__(self, context: RunnerContext) -> None:
        self._root = os.path.realpath(context.settings.static_path)

    async def start(self) -> None:
        if not os.path.isdir(self._root):  # noqa: ASYNC240 - once, at start-up
            raise StartupFailed(f"static_path {self._root} is not a directory")

    async def ready(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def handle(self, request: BaseRequest, started: float) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return plain(405, "Method Not Allowed\n")
        if "\x00" in request.path:
            return plain(400, "Bad Request\n")
        path = resolve_inside(self._root, request.path)
        if path is None:
            return plain(404, "404 page not found\n")
        return web.FileResponse(path)
