"""Properties of every parser that sees untrusted input (beyond the ones in tests/unit/core and .../stack).

Whatever arrives, each parser either returns a value or raises its documented error type — pydantic's
``ValidationError`` for the wire models, ``ValidationFailed`` (a 400 naming a field) for the gateway's
request readers — never anything else (which would be a 500); and what it accepts is well-formed: valid
inputs round-trip, accepted names are single safe path components, accepted callback URLs are http(s) with a
host.

Already covered elsewhere, not repeated: durations (tests/unit/core/test_durations.py), name rules
(.../test_names.py), model wire round trips (.../test_models_properties.py), stack.yml
(tests/unit/stack/test_stack_properties.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aiohttp import streams
from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from pyfaas.core import models
from pyfaas.core.errors import ValidationFailed
from pyfaas.core.names import split_name, validate_function_name, validate_namespace, validate_secret_name
from pyfaas.gateway.async_calls.routes import _callback_url
from pyfaas.gateway.inputs import namespace_of, query_bool, query_int, query_time, read_model

INPUT_MODELS: list[type[BaseModel]] = [
    models.FunctionDeployment,
    models.DeleteFunctionRequest,
    models.ScaleServiceRequest,
    models.Secret,
    models.FunctionNamespace,
    models.AlertmanagerWebhook,
    models.QueueRequest,
]

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _shaped(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the model's own keys (aliases included) holding arbitrary JSON: reaches the validators."""
    keys = sorted({info.alias or name for name, info in model.model_fields.items()} | set(model.model_fields))
    return st.dictionaries(st.sampled_from(keys), json_values, max_size=len(keys))


def _only_validation_errors(model: type[BaseModel], data: Any) -> BaseModel | None:
    try:
        return model.model_validate(data, strict=True)
    except ValidationError:
        return None


@pytest.mark.parametrize("model", INPUT_MODELS, ids=lambda m: m.__name__)
@given(data=st.data())
def test_wire_models_raise_only_validation_errors(model: type[BaseModel], data: st.DataObject) -> None:
    value = data.draw(json_values | _shaped(model))
    parsed = _only_validation_errors(model, value)
    if parsed is not None and isinstance(parsed, models.WireModel):
        json.dumps(parsed.wire())  # whatever was accepted can be written back out


@pytest.mark.parametrize("model", [models.QueueRequest, models.AlertmanagerWebhook], ids=lambda m: m.__name__)
@given(text=st.text(max_size=200) | json_values.map(json.dumps))
def test_queued_and_alert_json_text_raises_only_validation_errors(model: type[BaseModel], text: str) -> None:
    with contextlib.suppress(ValidationError):
        model.model_validate_json(text)


label_values = st.text(max_size=15)
alerts = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"])},
    optional={
        "labels": st.dictionaries(
            st.sampled_from(["alertname", "function_name", "severity"]), label_values, max_size=3
        ),
        "annotations": st.dictionaries(st.text(max_size=8), label_values, max_size=2),
        "startsAt": st.just("2026-01-02T03:04:05.123Z"),
        "fingerprint": st.text(alphabet="0123456789abcdef", max_size=16),
    },
)
webhooks = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]), "alerts": st.lists(alerts, max_size=4)},
    optional={
        "receiver": label_values,
        "groupKey": st.text(max_size=20) | st.integers(0, 10**9),
        "truncatedAlerts": st.integers(0, 100),
        "version": st.just("4"),
        "groupLabels": st.dictionaries(st.text(max_size=8), label_values, max_size=2),
    },
)


@given(webhooks)
def test_alertmanager_payloads_round_trip(payload: dict[str, Any]) -> None:
    webhook = models.AlertmanagerWebhook.model_validate(payload, strict=True)
    wired = webhook.wire()
    again = models.AlertmanagerWebhook.model_validate(json.loads(json.dumps(wired)), strict=True)
    assert again.wire() == wired
    assert [a.function_name for a in again.alerts] == [
        a.get("labels", {}).get("function_name", "") for a in payload["alerts"]
    ]


@given(
    st.fixed_dictionaries(
        {"Function": st.text(min_size=1, max_size=20)},
        optional={
            "Method": st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
            "Path": st.text(max_size=20),
            "QueryString": st.text(max_size=20),
            "Host": st.text(max_size=20),
            "Annotations": st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
        },
    )
)
def test_queue_requests_round_trip(fields: dict[str, Any]) -> None:
    request = models.QueueRequest.model_validate(fields, strict=True)
    again = models.QueueRequest.model_validate_json(json.dumps(request.wire()))
    assert again.wire() == request.wire()


# names: what is accepted is one safe path component ----------------------------------------------------
@pytest.mark.parametrize("validate", [validate_function_name, validate_namespace, validate_secret_name])
@given(name=st.text(max_size=70) | st.sampled_from(["..", ".", "../x", "a/b", "a\x00", "%2e%2e", "/etc"]))
def test_accepted_names_stay_inside_their_directory(validate: Any, name: str) -> None:
    try:
        validate(name)
    except ValidationFailed as exc:
        assert exc.status == 400 and exc.field
        return
    base = Path("/state/secrets")
    assert name not in (".", "..") and "/" not in name and "\\" not in name and "\x00" not in name
    assert (base / name).parent == base and ".." not in (base / name).parts


@given(st.text(max_size=40))
def test_qualified_names_split_into_validated_parts_or_fail(qualified: str) -> None:
    name, namespace = split_name(qualified, "openfaas-fn")
    for part, validate in ((name, validate_function_name), (namespace, validate_namespace)):
        try:
            validate(part)
        except ValidationFailed:
            continue
        assert "/" not in part and part not in (".", "..")


# the gateway's request readers --------------------------------------------------------------------------
def _request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    loop = asyncio.get_event_loop()
    payload = streams.StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=loop)
    payload.feed_data(body)
    payload.feed_eof()
    return make_mocked_request(
        method, path, payload=payload, headers={"Content-Length": str(len(body)), **(headers or {})}
    )


@pytest.mark.parametrize("model", INPUT_MODELS[:6], ids=lambda m: m.__name__)
@given(body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_read_model_raises_only_validation_failed(model: type[BaseModel], body: bytes) -> None:
    async def run() -> None:
        try:
            await read_model(_request("POST", "/system/x", body), model)
        except ValidationFailed as exc:
            assert exc.status == 400 and exc.field

    asyncio.run(run())


@given(st.text(max_size=30))
def test_query_parsers_raise_only_validation_failed(value: str) -> None:
    from urllib.parse import quote

    q = quote(value, safe="")

    async def run() -> None:
        request = _request("GET", f"/system/logs?tail={q}&follow={q}&since={q}&namespace={q}")
        for parse in (
            lambda: query_int(request, "tail", 0),
            lambda: query_bool(request, "follow", False),
            lambda: query_time(request, "since"),
            lambda: namespace_of(request, "openfaas-fn"),
        ):
            try:
                parse()
            except ValidationFailed as exc:
                assert exc.status == 400 and exc.field

    asyncio.run(run())


printable_header = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60
)  # what an HTTP header value can carry
urlish = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["http", "https", "ftp", "HTTP", "", "javascript"]),
    st.sampled_from(["", "h", "[", "[::1]", "[::1", "a.b", "user@h", "h:x"]),
    st.sampled_from(["", ":80", ":0", ":65535", ":65536", ":-1", ":x", ":"]),
    st.sampled_from(["", "/", "/cb?x=1", "/%zz", "#f"]),
)


@given(printable_header | urlish)
def test_callback_url_header_is_a_400_or_an_http_url(value: str) -> None:
    async def run() -> None:
        try:
            callback = _callback_url(_request("POST", "/async-function/f", headers={"X-Callback-Url": value}))
        except ValidationFailed as exc:
            assert exc.field == "X-Callback-Url"
            return
        assert callback is not None
        assert callback.Scheme in ("http", "https") and callback.Host
        assert callback.url().startswith(("http://", "https://"))

    asyncio.run(run())
