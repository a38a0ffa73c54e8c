"""The golden samples the OpenFaaS OpenAPI spec covers validate against its component schemas.

The spec is partial (see docs/compatibility.md, "OpenAPI spec gaps"); where a sample is right by the Go code
but the spec disagrees, the case is listed in ``SPEC_GAPS`` and must keep failing, so a fixed spec shows up.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import validate as validate_spec

from pyfaas.core import models
from tests.unit.core.golden_samples import SCHEMA_BY_PREFIX, Sample, canonical_samples, lenient_samples

SPEC_PATH = Path(__file__).resolve().parents[2] / "reliability" / "fuzz" / "openfaas-spec.openapi.yml"
"""OpenFaaS's spec, vendored unmodified in the repository (see the file's header)."""

SPEC_GAPS = {
    "scale_service_request.to_zero": "spec marks ScaleServiceRequest.namespace required; Go has omitempty",
    "lenient/scale_service_request.body_only_replicas": "spec marks ScaleServiceRequest.namespace required",
    "gateway_info.null_provider": "nullable beside allOf/$ref: OAS 3.0 validators reject Go's null",
}


@cache
def _spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


def _errors(schema_name: str, instance: Any) -> list[str]:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": _spec()["components"]}
    validator = OAS30Validator(schema, format_checker=oas30_format_checker)
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(instance)]


def _covered(samples: list[Sample]) -> list[Sample]:
    return [sample for sample in samples if sample.prefix in SCHEMA_BY_PREFIX]


# What pyfaas emits must satisfy the spec. Lenient inputs are deliberately not checked: accepting more than
# the spec (YAML scalars in maps, missing optional keys, ``null`` for pointers) is the point of those samples.
_CASES = [(s.case, s.prefix, s.expected, s.case) for s in _covered(canonical_samples() + lenient_samples())]


def _param(label: str, prefix: str, instance: Any, case: str) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=SPEC_GAPS[case])] if case in SPEC_GAPS else []
    return pytest.param(prefix, instance, id=label, marks=marks)


@pytest.mark.parametrize(("prefix", "instance"), [_param(*case) for case in _CASES])
def test_sample_validates_against_openfaas_schema(prefix: str, instance: Any) -> None:
    assert _errors(SCHEMA_BY_PREFIX[prefix], instance) == []


def test_validator_is_real_and_rejects_a_wrong_sample() -> None:
    errors = _errors("FunctionStatus", {"name": "a", "image": "b", "createdAt": "yesterday", "labels": [1]})
    assert any("createdAt" in error for error in errors)
    assert any("labels" in error for error in errors)
    assert _errors("DeleteFunctionRequest", {}) != []


def test_spec_is_a_valid_openapi_document() -> None:
    validate_spec(_spec())


def test_spec_alert_example_parses_as_a_webhook() -> None:
    example = _spec()["components"]["schemas"]["PrometheusAlert"]["example"]
    webhook = models.AlertmanagerWebhook.model_validate(example)
    assert webhook.status == "firing"
    assert webhook.alerts[0].function_name == "func_nodeinfo"
    assert webhook.groupKey == "18195285354214864953"  # sent as a JSON number before webhook version 4
