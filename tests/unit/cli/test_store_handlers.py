"""The bundled store functions' handlers, called as the watchdog calls them (event in, response value out).

The deployed path (watchdog → handler) is covered by tests/integration/cli/test_store.py; these pin the
converters' own behaviour."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import yaml

from pyfaas.store.catalog import load_catalog


@dataclass
class Event:
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    query: dict[str, str] = field(default_factory=dict)
    path: str = "/"


def handler(name: str) -> ModuleType:
    entry = load_catalog().find(name)
    assert entry is not None and entry.handler_path is not None
    spec = importlib.util.spec_from_file_location(
        f"store_{name.replace('-', '_')}", entry.handler_path / "handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_echo_returns_body_and_content_type() -> None:
    body, status, headers = handler("echo").handle(
        Event(b"\x00\xffbin", {"Content-Type": "application/octet-stream"}), None
    )
    assert (body, status, headers) == (b"\x00\xffbin", 200, {"Content-Type": "application/octet-stream"})


def test_sha256() -> None:
    module = handler("sha256")
    answer = module.handle(Event(b"abc"), None)
    assert answer["body"] == hashlib.sha256(b"abc").hexdigest() + "\n"
    assert (
        module.handle(Event(b"abc", query={"algorithm": "sha512"}), None)["body"].strip()
        == hashlib.sha512(b"abc").hexdigest()
    )
    assert module.handle(Event(b"abc", query={"algorithm": "crc"}), None)["statusCode"] == 400


def test_json_yaml_both_ways() -> None:
    module = handler("json-yaml")
    to_yaml = module.handle(
        Event(b'{"a": [1, 2], "b": {"c": null}}', {"Content-Type": "application/json"}), None
    )
    assert to_yaml["headers"]["Content-Type"] == "application/yaml"
    assert yaml.safe_load(to_yaml["body"]) == {"a": [1, 2], "b": {"c": None}}
    to_json = module.handle(Event(b"a:\n  - 1\n  - x\n", {"Content-Type": "application/yaml"}), None)
    assert json.loads(to_json["body"]) == {"a": [1, "x"]}
    forced = module.handle(Event(b'{"k": 1}', query={"to": "json"}), None)
    assert json.loads(forced["body"]) == {"k": 1}
    assert module.handle(Event(b"a: [", {}), None)["statusCode"] == 400
    assert module.handle(Event(b"!!python/object:os.system x", {}), None)["statusCode"] == 400  # safe loader


def test_markdown_renders_and_escapes() -> None:
    render: Any = handler("markdown").render
    html = render(
        "# Title\n\nSome **bold** and *em* with `a<b` and [link](https://x.y).\n\n"
        "- one\n- two\n\n```\n<tag>\n```\n"
    )
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html and "<code>a&lt;b</code>" in html
    assert '<a href="https://x.y">link</a>' in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<pre><code>&lt;tag&gt;\n</code></pre>" in html
    unsafe = render('<script>alert(1)</script> [x](javascript:alert(1)) ![a"b](/i.png)')
    assert "<script>" not in unsafe and 'href="#"' in unsafe and 'alt="a&quot;b"' in unsafe
    page = handler("markdown").handle(Event(b"hi", query={"page": "true"}), None)
    assert page["body"].startswith("<!doctype html>")


def test_sleep_validates_and_sleeps() -> None:
    module = handler("sleep")
    answer = asyncio.run(module.handle(Event(b"", query={"seconds": "0.01"}), None))
    assert answer["statusCode"] == 200 and answer["body"]["requested"] == 0.01
    assert asyncio.run(module.handle(Event(b"soon"), None))["statusCode"] == 400
    assert asyncio.run(module.handle(Event(b"", query={"seconds": "1e9"}), None))["statusCode"] == 400
