"""echo: answers with the request body unchanged, with the request's Content-Type."""

from __future__ import annotations

from typing import Any


def handle(event: Any, context: Any) -> tuple[bytes, int, dict[str, str]]:
    content_type = event.headers.get("Content-Type") or "text/plain; charset=utf-8"
    return bytes(event.body), 200, {"Content-Type": content_type}
