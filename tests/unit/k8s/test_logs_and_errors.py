"""Pod log line parsing and the API-error translation table."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2
import pytest
from lightkube import ApiError
from lightkube.models.meta_v1 import Status, StatusCause, StatusDetails

from pyfaas.core.errors import (
    Forbidden,
    FunctionExists,
    FunctionNotFound,
    KubernetesAPIError,
    NamespaceNotFound,
    PyfaasError,
    ValidationFailed,
)
from pyfaas.provider.kubernetes.errors import api_errors
from pyfaas.provider.kubernetes.logs import parse_log_line


def test_log_lines_carry_the_kubelet_timestamp() -> None:
    message = parse_log_line(
        "2026-11-26T23:00:01.123456789Z hello world\n", name="fn", namespace="ns", instance="fn-1"
    )
    assert message.timestamp == datetime(2026, 11, 26, 23, 0, 1, 123456, tzinfo=UTC)
    assert (message.text, message.instance, message.name, message.namespace) == (
        "hello world",
        "fn-1",
        "fn",
        "ns",
    )
    offset = parse_log_line("2026-11-26T23:00:01+02:00 x", name="fn", namespace="ns", instance="i")
    assert offset.timestamp == datetime(2026, 11, 26, 21, 0, 1, tzinfo=UTC)
    bare = parse_log_line("no stamp here", name="fn", namespace="ns", instance="i")
    assert bare.text == "no stamp here" and bare.timestamp.tzinfo is not None


def api_error(code: int, reason: str) -> ApiError:
    return ApiError(status=Status(code=code, reason=reason, message=f"{reason} happened"))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (404, FunctionNotFound),
        (409, FunctionExists),
        (422, ValidationFailed),
        (400, ValidationFailed),
        (403, Forbidden),
        (500, KubernetesAPIError),
    ],
)
def test_api_errors_map_to_the_error_tree(code: int, expected: type[PyfaasError]) -> None:
    with (
        pytest.raises(expected) as raised,
        api_errors("doing x", not_found=FunctionNotFound, conflict=FunctionExists),
    ):
        raise api_error(code, "Reason")
    assert raised.value.message == "doing x: Reason happened"
    if isinstance(raised.value, KubernetesAPIError):
        assert raised.value.code == code and raised.value.status == 502


def test_a_write_into_a_terminating_namespace_is_that_namespace_not_found() -> None:
    refused = Status(
        code=403,
        reason="Forbidden",
        message='deployments "x" is forbidden: unable to create new content in namespace dev because it is '
        "being terminated",
        details=StatusDetails(
            causes=[StatusCause(reason="NamespaceTerminating", field="metadata.namespace")]
        ),
    )
    with pytest.raises(NamespaceNotFound) as raised, api_errors("creating x"):
        raise ApiError(status=refused)
    assert raised.value.status == 404 and raised.value.field == "namespace"


def test_unmapped_404_and_transport_failures() -> None:
    with pytest.raises(KubernetesAPIError) as raised, api_errors("reading"):
        raise api_error(404, "NotFound")
    assert raised.value.code == 404
    with pytest.raises(KubernetesAPIError, match="unreachable"), api_errors("reading"):
        raise httpx2.ConnectError("refused")
