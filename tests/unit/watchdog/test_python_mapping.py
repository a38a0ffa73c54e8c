"""The python3-http return mapping, table-driven, checked against Flask itself (the template's server)."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import flask
import pytest

from pyfaas.watchdog.modes.python.mapping import map_classic, map_http

CASES: list[tuple[str, Any, int, bytes, str]] = [
    ("none", None, 200, b"", "text/html; charset=utf-8"),
    ("string", "hello", 200, b"hello", "text/html; charset=utf-8"),
    ("bytes", b"\x00raw", 200, b"\x00raw", "text/html; charset=utf-8"),
    ("empty dict", {}, 200, b"", "text/html; charset=utf-8"),
    ("status only", {"statusCode": 204}, 204, b"", "text/html; charset=utf-8"),
    ("text body", {"statusCode": 201, "body": "made"}, 201, b"made", "text/html; charset=utf-8"),
    ("int body", {"body": 42}, 200, b"42", "text/html; charset=utf-8"),
    ("bytes body is str()-ed", {"body": b"ab"}, 200, b"b'ab'", "text/html; charset=utf-8"),
    ("list body is str()-ed", {"body": [1, 2]}, 200, b"[1, 2]", "text/html; charset=utf-8"),
    ("dict body is JSON", {"body": {"b": 1, "a": "é"}}, 200, b'{"a":"\\u00e9","b":1}\n', "application/json"),
    (
        "json with header override",
        {"body": {"a": 1}, "headers": {"Content-Type": "application/vnd.x+json"}},
        200,
        b'{"a":1}\n',
        "application/vnd.x+json",
    ),
    (
        "custom content type",
        {"statusCode": 400, "body": "bad", "headers": {"Content-Type": "text/plain"}},
        400,
        b"bad",
        "text/plain",
    ),
    (
        "octet-stream keeps bytes",
        {"body": b"\x01\x02", "headers": {"Content-type": "application/octet-stream"}},
        200,
        b"\x01\x02",
        "application/octet-stream",
    ),
    ("headers as list", {"body": "x", "headers": [("X-A", "1")]}, 200, b"x", "text/html; charset=utf-8"),
    ("tuple", ("made", 201), 201, b"made", "text/html; charset=utf-8"),
    ("tuple with headers", ("x", 202, {"X-A": "1"}), 202, b"x", "text/html; charset=utf-8"),
    ("list is JSON", [3, {"b": 2, "a": 1}], 200, b'[3,{"a":1,"b":2}]\n', "application/json"),
    (
        "json dates and decimals",
        {"body": {"d": datetime.date(2024, 1, 2), "n": decimal.Decimal("1.5")}},
        200,
        b'{"d":"Tue, 02 Jan 2024 00:00:00 GMT","n":"1.5"}\n',
        "application/json",
    ),
]


def _template_format(res: Any) -> Any:
    """The python3-http template's mapping as the OpenFaaS contract describes it (the Flask side is real)."""
    if res is None:
        return ("", 200)
    if type(res) is dict:
        status = res.get("statusCode", 200)
        raw = res.get("headers")
        content_type = raw.get("Content-type", "") if isinstance(raw, dict) else ""  # template: list → error
        if content_type == "application/octet-stream":
            body = res["body"]
        elif "body" not in res:
            body = ""
        elif type(res["body"]) is dict:
            body = flask.jsonify(res["body"])
        else:
            body = str(res["body"])
        if "headers" not in res:
            headers: Any = []
        elif type(res["headers"]) is dict:
            headers = list(res["headers"].items())
        else:
            headers = res["headers"]
        return (body, status, headers)
    return res


@pytest.fixture(scope="module")
def flask_app() -> flask.Flask:
    app = flask.Flask(__name__)
    return app


@pytest.mark.parametrize(
    ("result", "status", "body", "content_type"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_table(result: Any, status: int, body: bytes, content_type: str, flask_app: flask.Flask) -> None:
    mapped = map_http(result)
    assert (mapped.status, mapped.body, mapped.headers.get("Content-Type")) == (status, body, content_type)
    with flask_app.test_request_context("/"):
        reference = flask_app.make_response(_template_format(result))
    assert mapped.status == reference.status_code
    assert mapped.body == reference.get_data()
    assert mapped.headers.get("Content-Type") == reference.headers.get("Content-Type")
    for key, value in reference.headers.items():
        if key.lower() != "content-length":
            assert value in mapped.headers.getall(key, []), key


def test_custom_headers_pass_through() -> None:
    mapped = map_http({"body": "x", "headers": {"X-Trace": "abc", "Cache-Control": "no-store"}})
    assert mapped.headers["X-Trace"] == "abc"
    assert mapped.headers["Cache-Control"] == "no-store"


def test_classic_prints_the_result() -> None:
    assert map_classic("hi", "text/plain").body == b"hi\n"
    assert map_classic(None, "text/plain").body == b""
    assert map_classic(12, "application/json").headers["Content-Type"] == "application/json"
