"""Map what a python-mode handler returns to an HTTP response, exactly as OpenFaaS's templates do.

python3-http (``handle(event, context)``; its ``index.py`` passes the value on to Flask):

* ``None`` → 200, empty body;
* a ``dict`` → status ``statusCode`` (default 200); ``body`` missing → empty, a ``dict`` → JSON as Flask's
  ``jsonify`` writes it, anything else → ``str(body)`` (raw when ``headers['Content-type']`` is
  ``application/octet-stream``); ``headers`` as given;
* anything else → what Flask makes of it: ``str`` and ``bytes`` bodies, ``(body, status[, headers])`` and
  ``(body, headers)`` tuples, ``list`` → JSON, a response-like object (``status_code``, ``headers``,
  ``get_data()``); other objects → ``str(value)``.

Flask's default Content-Type for text bodies is ``text/html; charset=utf-8``.

Classic python3 (``handle(req)``): the return value is ``print()``-ed by the template, so the body is
``str(value) + "\\n"`` (``None`` → empty body).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid
from collections.abc import Iterable, Mapping
from email.utils import format_datetime
from typing import Any

from multidict import CIMultiDict

__all__ = ["FLASK_TEXT", "MappedResponse", "flask_json", "map_classic", "map_http"]

FLASK_TEXT = "text/html; charset=utf-8"
FLASK_JSON = "application/json"


@dataclasses.dataclass(slots=True)
class MappedResponse:
    status: int
    body: bytes
    headers: CIMultiDict[str]


def _json_default(value: Any) -> Any:
    """What Flask's default JSON provider adds to the standard encoder."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return format_datetime(value.astimezone(datetime.UTC), usegmt=True)
    if isinstance(value, datetime.date):
        return format_datetime(
            datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC), usegmt=True
        )
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def flask_json(value: Any) -> bytes:
    """``flask.jsonify(value).data`` outside debug mode: sorted keys, compact, ASCII, trailing newline."""
    text = json.dumps(value, default=_json_default, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return (text + "\n").encode()


def _status(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(str(value).strip().split(" ", 1)[0])


def _apply_headers(headers: CIMultiDict[str], extra: Any) -> None:
    """Werkzeug ``Headers.update``: each key given replaces the existing values of that key."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(extra, Mapping) or (hasattr(extra, "items") and callable(extra.items)):
        items = extra.items()
    else:
        items = extra
    replaced: set[str] = set()
    for key, value in items:
        name = str(key)
        folded = name.lower()
        if folded not in replaced:
            headers.popall(name, None)
            replaced.add(folded)
        headers.add(name, str(value))


def _flask_body(value: Any) -> tuple[bytes, str | None, int | None, Any]:
    """Flask's ``make_response`` for a non-tuple value: (body, content type, status, headers)."""
    if value is None:
        return b"", FLASK_TEXT, None, None
    if isinstance(value, str):
        return value.encode(), FLASK_TEXT, None, None
    if isinstance(value, bytes | bytearray):
        return bytes(value), FLASK_TEXT, None, None
    if isinstance(value, dict | list):
        return flask_json(value), FLASK_JSON, None, None
    if hasattr(value, "status_code") and hasattr(value, "get_data") and hasattr(value, "headers"):
        data = value.get_data()
        return (
            data if isinstance(data, bytes) else str(data).encode(),
            None,
            int(value.status_code),
            list(value.headers.items()),
        )
    return str(value).encode(), FLASK_TEXT, None, None


def _flask_response(value: Any) -> MappedResponse:
    status: Any = None
    extra: Any = None
    if isinstance(value, tuple):
        if len(value) == 3:
            value, status, extra = value
        elif len(value) == 2:
            value, second = value
            if isinstance(second, dict | list | tuple) or hasattr(second, "items"):
                extra = second
            else:
                status = second
        else:
            value = str(value)
    body, content_type, own_status, own_headers = _flask_body(value)
    headers: CIMultiDict[str] = CIMultiDict()
    if own_headers is not None:
        for key, item in own_headers:
            headers.add(key, item)
    if content_type is not None:
        headers["Content-Type"] = content_type
    if extra:
        _apply_headers(headers, extra)
    final = _status(status) if status is not None else (own_status if own_status is not None else 200)
    return MappedResponse(final, body, headers)


def map_http(result: Any) -> MappedResponse:
    """The python3-http template's ``format_response`` followed by Flask's ``make_response``."""
    if result is None:
        return MappedResponse(200, b"", CIMultiDict({"Content-Type": FLASK_TEXT}))
    if type(result) is dict:
        status = result.get("statusCode", 200)
        raw_headers = result.get("headers")
        content_type = ""
        if raw_headers is not None and hasattr(raw_headers, "get"):
            content_type = raw_headers.get("Content-type", "")
        body: Any
        if content_type == "application/octet-stream":
            body = result.get("body")
        elif "body" not in result:
            body = ""
        elif type(result["body"]) is dict:
            body = result["body"]
        else:
            body = str(result["body"])
        headers: Any
        if "headers" not in result:
            headers = []
        elif type(raw_headers) is dict:
            headers = list(raw_headers.items())
        else:
            headers = raw_headers
        return _flask_response((body, status, headers))
    return _flask_response(result)


def map_classic(result: Any, content_type: str) -> MappedResponse:
    """The classic python3 template: ``print(result)`` unless ``None``."""
    body = b"" if result is None else (str(result) + "\n").encode()
    return MappedResponse(200, body, CIMultiDict({"Content-Type": content_type}))
