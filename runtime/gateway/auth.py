"""Basic auth as OpenFaaS does it: credentials from two files (``pyfaas.system.credentials``, read once at
start-up; a missing file is a configuration error), 401 ``invalid credentials``.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["is_protected", "unauthorized"]


def unauthorized() -> web.Response:
    """OpenFaaS's exact 401: plain body without newline and the ``Restricted`` realm."""
    return web.Response(
        status=401,
        text="invalid credentials",
        headers={"WWW-Authenticate": 'Basic realm="Restricted"'},
    )


def is_protected(path: str) -> bool:
    """Every system route and the UI are behind auth; ``/``, ``/healthz`` and ``/function/*`` are open."""
    return path.startswith("/system/") or path == "/ui" or path.startswith("/ui/")
