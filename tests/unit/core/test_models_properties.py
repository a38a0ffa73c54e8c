"""Property tests for the wire models: whatever valid JSON comes in, ``wire()`` output is stable JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pyfaas.core import models

TEXT = st.text(max_size=12)
MAPS = st.none() | st.dictionaries(TEXT, TEXT, max_size=3)
LISTS = st.none() | st.lists(TEXT, max_size=3)
RESOURCES = st.none() | st.fixed_dictionaries(
    {},
    optional={
        key: st.sampled_from(["", "1", "128Mi", "100m"])
        for key in ("memory", "cpu", "nvidia.com/gpu", "amd.com/gpu", "intel.com/gpu")
    },
)
TIMES = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9998, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
    ),
)
OPTIONAL_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "namespace": st.none() | TEXT,
    "envProcess": st.none() | TEXT,
    "envVars": MAPS,
    "constraints": LISTS,
    "secrets": LISTS,
    "labels": MAPS,
    "annotations": MAPS,
    "limits": RESOURCES,
    "requests": RESOURCES,
    "readOnlyRootFilesystem": st.booleans(),
}
DEPLOYMENTS = st.fixed_dictionaries(
    {"service": TEXT.filter(bool), "image": TEXT.filter(bool)}, optional=OPTIONAL_FIELDS
)
STATUSES = st.fixed_dictionaries(
    {"name": TEXT, "image": TEXT},
    optional={
        **OPTIONAL_FIELDS,
        "invocationCount": st.floats(min_value=0, max_value=1e15) | st.integers(0, 10**15),
        "replicas": st.integers(0, 10**6),
        "availableReplicas": st.integers(0, 10**6),
        "createdAt": TIMES.map(lambda t: t.isoformat()),
        "usage": st.none()
        | st.fixed_dictionaries(
            {}, optional={"cpu": st.floats(0, 1e6), "totalMemoryBytes": st.floats(0, 1e12)}
        ),
    },
)


# The contract's omitempty rules, stated here rather than read from the models: keys OpenFaaS always writes,
# and pointer fields it writes whenever they are set, even empty.
ALWAYS: dict[type[models.WireModel], set[str]] = {
    models.FunctionDeployment: {"service", "image"},
    models.FunctionStatus: {"name", "image", "createdAt"},
}
KEEP_EMPTY: dict[type[models.WireModel], set[str]] = {
    models.FunctionDeployment: {"labels", "annotations"},
    models.FunctionStatus: {"labels", "annotations", "updatedReplicas"},
}


def _stable(model: type[models.WireModel], data: dict[str, Any]) -> None:
    first = model.model_validate(data).wire()
    text = json.dumps(first)
    second = model.model_validate_json(text).wire()
    assert json.dumps(second, sort_keys=True) == json.dumps(first, sort_keys=True)
    for key, value in first.items():
        if key not in ALWAYS[model] and not (key in KEEP_EMPTY[model] or isinstance(value, dict)):
            assert value not in ("", 0, False, None, [], {}), f"{key} should have been omitted"


@given(DEPLOYMENTS)
def test_function_deployment_wire_is_a_fixed_point(data: dict[str, Any]) -> None:
    _stable(models.FunctionDeployment, data)


@given(STATUSES)
def test_function_status_wire_is_a_fixed_point(data: dict[str, Any]) -> None:
    _stable(models.FunctionStatus, data)
    assert "createdAt" in models.FunctionStatus.model_validate(data).wire()


@given(TIMES)
def test_rfc3339_rendering_parses_back_to_the_same_instant(moment: datetime) -> None:
    text = models.format_rfc3339(moment)
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == moment
    assert text.endswith("Z") == (moment.utcoffset() == timedelta(0))


@given(st.binary(max_size=64), st.dictionaries(TEXT, st.lists(TEXT, min_size=1, max_size=2), max_size=3))
def test_queue_request_body_and_headers_survive(body: bytes, header: dict[str, list[str]]) -> None:
    request = models.QueueRequest(Function="echo", Body=body, Header=header, CallbackUrl="http://h:1/p?q=1")
    again = models.QueueRequest.model_validate_json(json.dumps(request.wire()))
    assert (again.Body or b"") == body
    assert (again.Header or {}) == header
    assert again.CallbackUrl is not None and again.CallbackUrl.url() == "http://h:1/p?q=1"


URL_PARTS = st.tuples(
    st.sampled_from(["http", "https"]),
    st.from_regex(r"\A[a-z0-9.-]{1,20}(:[0-9]{1,5})?\Z") | st.just("[::1]:8080"),
    st.from_regex(r"\A(/[a-zA-Z0-9._~%-]{0,8}){0,3}\Z"),
    st.from_regex(r"\A[a-zA-Z0-9=&%._-]{0,20}\Z"),
)


@given(URL_PARTS)
def test_callback_url_object_form_rebuilds_the_url(parts: tuple[str, str, str, str]) -> None:
    scheme, host, path, query = parts
    url = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
    callback = models.CallbackURL.from_url(url)
    assert (callback.Scheme, callback.Host, callback.Path, callback.RawQuery) == (scheme, host, path, query)
    assert models.CallbackURL.model_validate(callback.wire()).url() == url
