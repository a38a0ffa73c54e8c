"""Golden JSON round trips: parsing an OpenFaaS sample and calling ``wire()`` gives Go's JSON back exactly."""

from __future__ import annotations

import pytest

from pyfaas.core import models
from tests.unit.core.golden_samples import (
    MODEL_BY_PREFIX,
    Sample,
    canonical_json,
    canonical_samples,
    lenient_samples,
)

CANONICAL = canonical_samples()
LENIENT = lenient_samples()
ALL = CANONICAL + LENIENT


def _ids(samples: list[Sample]) -> list[str]:
    return [sample.case for sample in samples]


@pytest.mark.parametrize("sample", ALL, ids=_ids(ALL))
def test_parse_then_wire_gives_the_golden_json(sample: Sample) -> None:
    parsed = sample.model.model_validate(sample.given)
    assert canonical_json(parsed.wire()) == canonical_json(sample.expected)


@pytest.mark.parametrize("sample", ALL, ids=_ids(ALL))
def test_json_text_input_parses_the_same_as_python_input(sample: Sample) -> None:
    from_text = sample.model.model_validate_json(sample.given_text)
    assert canonical_json(from_text.wire()) == canonical_json(sample.expected)


@pytest.mark.parametrize("sample", ALL, ids=_ids(ALL))
def test_wire_output_is_a_fixed_point(sample: Sample) -> None:
    once = sample.model.model_validate(sample.given).wire()
    twice = sample.model.model_validate(once).wire()
    assert canonical_json(twice) == canonical_json(once)


def test_every_contract_model_has_canonical_and_lenient_samples() -> None:
    canonical = {sample.model for sample in CANONICAL}
    lenient = {sample.model for sample in LENIENT}
    for model in MODEL_BY_PREFIX.values():
        assert model in canonical, f"no golden sample for {model.__name__}"
        assert model in lenient, f"no lenient sample for {model.__name__}"


def test_created_at_is_always_present_and_zero_when_unset() -> None:
    status = models.FunctionStatus(name="echo", image="img")
    assert status.wire()["createdAt"] == "0001-01-01T00:00:00Z"
    assert models.FunctionDeployment(service="echo", image="img").status().wire()["createdAt"] == (
        "0001-01-01T00:00:00Z"
    )


def test_scale_to_zero_request_keeps_replicas() -> None:
    # Dropping a zero here would turn a scale-to-zero request into an invalid body.
    wired = models.ScaleServiceRequest(serviceName="echo", replicas=0).wire()
    assert wired == {"serviceName": "echo", "replicas": 0}
    assert models.ScaleServiceRequest.model_validate(wired).replicas == 0


def test_gpu_keys_use_their_kubernetes_names() -> None:
    resources = models.FunctionResources.model_validate({"nvidia.com/gpu": "1", "intel.com/gpu": "2"})
    assert resources.nvidia_gpu == "1"
    assert resources.intel_gpu == "2"
    assert resources.wire() == {"nvidia.com/gpu": "1", "intel.com/gpu": "2"}
    assert models.FunctionResources(amd_gpu="4").wire() == {"amd.com/gpu": "4"}


def test_queue_request_callback_object_rebuilds_the_url() -> None:
    sample = next(s for s in CANONICAL if s.case == "queue_request.callback")
    request = models.QueueRequest.model_validate(sample.given)
    assert request.CallbackUrl is not None
    assert request.CallbackUrl.url() == "http://receiver.example:8000/done?token=a%20b"
    assert request.Body == b'{"hello": "world"}'
    assert request.header("x-call-id") == "0b9d2f9e-4f1c-4a51-9d58-5a1f6b3f2c11"


def test_secret_raw_value_is_bytes_and_value_wins() -> None:
    raw = models.Secret.model_validate({"name": "k", "rawValue": "AAECA//+/Q=="})
    assert raw.payload() == bytes([0, 1, 2, 3, 255, 254, 253])
    both = models.Secret(name="k", value="text", rawValue=b"bytes")
    assert both.payload() == b"text"
    assert both.description().wire() == {"name": "k"}


def test_status_and_deployment_convert_both_ways() -> None:
    sample = next(s for s in CANONICAL if s.case == "function_deployment.full")
    deployment = models.FunctionDeployment.model_validate(sample.given)
    status = deployment.status(replicas=2, available_replicas=1)
    assert status.name == deployment.service
    assert status.deployment().wire() == deployment.wire()
