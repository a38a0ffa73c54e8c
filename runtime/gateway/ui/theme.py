"""The portal's theme from gateway settings: a company's title, logo, accent colour and links, no rebuild.

* ``GET /ui/theme.css``: ``--accent`` (and the text colour that reads on it) from ``ui_accent``, loaded after
  ``style.css``; empty when no accent is set. A stylesheet, not inline style: the page's policy allows
  styles from this origin only.
* ``GET /ui/brand-logo``: the ``ui_logo`` file, read once at start-up, served from this origin (the policy
  allows images from nowhere else) with a policy of its own so an SVG opened directly cannot run script.
* ``theme_info(settings)`` (in ``/system/ui/info``): title, logo path and links for the page to show.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from aiohttp import web

from pyfaas.gateway.settings import LOGO_TYPES, GatewaySettings, ui_links

__all__ = ["accent_css", "setup_theme", "theme_info"]

LOGO_PATH = "/ui/brand-logo"
_LOGO_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def _rgb(colour: str) -> tuple[int, int, int]:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _text_on(colour: str) -> str:
    """Black or white, whichever contrasts more with ``colour`` (WCAG relative luminance)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(v) for v in _rgb(colour))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "#0b1020" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


def accent_css(accent: str) -> str:
    """The stylesheet that sets the accent colour in light and dark schemes ("" when there is none)."""
    if not accent:
        return "/* no ui_accent set: the portal's own colours */\n"
    rules = f"--accent: {accent}; --accent-text: {_text_on(accent)}; --tone-a: {accent};"
    return f":root {{ {rules} }}\n@media (prefers-color-scheme: dark) {{ :root {{ {rules} }} }}\n"


@functools.cache
def _logo_version(path: str) -> str:
    """A short digest of the logo for its URL, so a new logo is not hidden by a cached old one."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def theme_info(settings: GatewaySettings) -> dict[str, Any]:
    logo = f"{LOGO_PATH}?v={_logo_version(settings.ui_logo)}" if settings.ui_logo else None
    return {
        "title": settings.ui_title,
        "logo": logo,
        "accent": settings.ui_accent or None,
        "links": [{"label": label, "url": url} for label, url in ui_links(settings.ui_links)],
    }


def setup_theme(app: web.Application, settings: GatewaySettings, headers: dict[str, str]) -> None:
    """Register ``/ui/theme.css`` and ``/ui/brand-logo`` (before the generic asset route)."""
    css = accent_css(settings.ui_accent).encode()
    css_etag = '"' + hashlib.sha256(css).hexdigest()[:20] + '"'
    logo = Path(settings.ui_logo).read_bytes() if settings.ui_logo else b""
    logo_type = LOGO_TYPES.get(Path(settings.ui_logo).suffix.lower(), "") if settings.ui_logo else ""
    logo_etag = '"' + hashlib.sha256(logo).hexdigest()[:20] + '"'

    async def theme_css(request: web.Request) -> web.Response:
        common = {**headers, "ETag": css_etag}
        if request.headers.get("If-None-Match") == css_etag:
            return web.Response(status=304, headers=common)
        return web.Response(body=css, content_type="text/css", charset="utf-8", headers=common)

    async def brand_logo(request: web.Request) -> web.Response:
        if not logo:
            raise web.HTTPNotFound()
        common = {**headers, "Content-Security-Policy": _LOGO_POLICY, "ETag": logo_etag}
        if request.headers.get("If-None-Match") == logo_etag:
            return web.Response(status=304, headers=common)
        return web.Response(body=logo, content_type=logo_type, headers=common)

    app.router.add_get("/ui/theme.css", theme_css)
    app.router.add_get(LOGO_PATH, brand_logo)
