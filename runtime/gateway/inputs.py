"""Request input parsing: JSON bodies through the core models, query parameters, namespaces.

Every failure is a ``ValidationFailed`` naming the offending field, which the error middleware turns into
``400 {"error": ..., "field": ...}``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from pyfaas.core.errors import ValidationFailed
from pyfaas.core.names import validate_namespace

__all__ = ["namespace_of", "query_bool", "query_int", "query_time", "read_model"]

M = TypeVar("M", bound=BaseModel)


def _field_of(error: ValidationError) -> str:
    first = error.errors()[0]
    return ".".join(str(part) for part in first["loc"]) or "body"


async def read_model(request: web.Request, model: type[M]) -> M:
    """Parse the JSON body as ``model``; 400 naming the field on any problem."""
    raw = await request.read()
    if not raw.strip():
        raise ValidationFailed("request body is empty: a JSON object is required", field="body")
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"request body is not valid JSON: {exc}", field="body") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object", field="body")
    try:
        # Strict, as Go's encoding/json: `"replicas": "2"` or `false` for a number is a 400, not a coercion.
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        field = _field_of(exc)
        raise ValidationFailed(f"{field}: {exc.errors()[0]['msg']}", field=field) from exc


def namespace_of(request: web.Request, default: str, *candidates: str | None) -> str:
    """``?namespace=``, else the first non-empty candidate (body field, ``name.namespace`` suffix), else
    ``default``; validated."""
    for value in (request.query.get("namespace"), *candidates):
        if value:
            return validate_namespace(value)
    return default


def query_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be an integer, got {raw!r}", field=name) from exc


def query_bool(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "t", "yes"):
        return True
    if lowered in ("0", "false", "f", "no"):
        return False
    raise ValidationFailed(f"{name} must be true or false, got {raw!r}", field=name)


def query_time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be an RFC3339 time, got {raw!r}", field=name) from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
