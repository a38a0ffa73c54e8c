"""The Function CRD body and the Function object <-> FunctionDeployment mapping (pure, no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from pyfaas.core.errors import ValidationFailed
from pyfaas.core.function_crd import deployment_of, function_crd, function_object
from pyfaas.core.models import FunctionDeployment, FunctionResources


def _nodes(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for key, child in (schema.get("properties") or {}).items():
        found += _nodes(child, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        found += _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _nodes(schema["additionalProperties"], f"{path}{{}}")
    return found


def test_schema_is_structural_every_node_has_a_type() -> None:
    version = function_crd()["spec"]["versions"][0]
    for path, node in _nodes(version["schema"]["openAPIV3Schema"]):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path


def test_crd_has_status_and_scale_subresources_and_printer_columns() -> None:
    version = function_crd()["spec"]["versions"][0]
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"]["specReplicasPath"] == ".spec.replicas"
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Image"] == ".spec.image"
    assert columns["Ready"] == ".status.readyReplicas"
    assert columns["Age"] == ".metadata.creationTimestamp"


def test_round_trip_keeps_every_field() -> None:
    spec = FunctionDeployment(
        service="fn1",
        image="ghcr.io/x/fn1:1.0",
        namespace="team",
        envProcess="python3 index.py",
        envVars={"a": "1"},
        labels={"com.openfaas.scale.min": "2"},
        annotations={"topic": "t"},
        constraints=["a=b"],
        secrets=["s1"],
        limits=FunctionResources(memory="128Mi", cpu="100m"),
        requests=FunctionResources(memory="64Mi"),
        readOnlyRootFilesystem=True,
    )
    body = function_object(spec, namespace="team", replicas=3)
    assert body["spec"]["handler"] == "python3 index.py"
    assert body["spec"]["environment"] == {"a": "1"}
    back, replicas = deployment_of(body)
    assert back == spec
    assert replicas == 3


def test_integer_quantities_become_strings() -> None:
    body = {"metadata": {"name": "f"}, "spec": {"name": "f", "image": "x:1", "limits": {"cpu": 2}}}
    spec, replicas = deployment_of(body)
    assert spec.limits == FunctionResources(cpu="2")
    assert replicas is None


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"image": "x:1"}, "spec.name"),
        ({"name": "f"}, "spec.image"),
        ({"name": "f", "image": "not an image"}, "spec.image"),
        ({"name": "f", "image": "x:1", "limits": {"memory": "lots"}}, "spec.limits"),
        ({"name": "f", "image": "x:1", "replicas": -2}, "spec.replicas"),
        ({"name": "other", "image": "x:1"}, "spec.name"),
    ],
)
def test_invalid_spec_names_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        deployment_of({"metadata": {"name": "f", "namespace": "ns"}, "spec": spec})
    assert caught.value.field == field
    assert field in caught.value.message


def test_missing_spec() -> None:
    with pytest.raises(ValidationFailed) as caught:
        deployment_of({"metadata": {"name": "f"}})
    assert caught.value.field == "spec"
