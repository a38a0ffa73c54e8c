"""Every object the program registers is a valid Kubernetes object for 1.30 and 1.37 (strict schemas).

The objects are what the mock monitor received from pulumi-kubernetes: camelCase keys as the provider sends
them; protobuf numbers come back as floats, so integral ones are turned back into ints (as the API server
reads them). Strict schemas reject unknown fields, so a misspelt or snake_case key fails here.
"""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.support.infra import Rendered

VERSIONS = ["1.30", "1.37"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("stack", ["default", "three-functions", "full-options"])
def test_every_object_validates_strictly(all_stacks: dict[str, Rendered], stack: str, version: str) -> None:
    objects = all_stacks[stack].objects()
    assert objects
    for body in objects:
        try:
            kubernetes_validate.validate(body, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            pytest.fail(
                f"{body['kind']}/{body['metadata']['name']} invalid for {version} at {path}: {exc.message}"
            )


def test_the_validator_does_reject_unknown_and_mistyped_fields(default_stack: Rendered) -> None:
    body = default_stack.object("Deployment", "gateway")
    container = body["spec"]["template"]["spec"]["containers"][0]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {**body, "spec": {**body["spec"], "replica_count": 1}}, "1.37", strict=True
        )
    broken = {**container, "readinessProbe": {**container["readinessProbe"], "periodSeconds": "5"}}
    spec = {**body["spec"], "template": {**body["spec"]["template"]}}
    spec["template"]["spec"] = {**spec["template"]["spec"], "containers": [broken]}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**body, "spec": spec}, "1.37", strict=True)


def test_keys_reach_the_provider_in_camel_case(default_stack: Rendered) -> None:
    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            found = set()
            for key, item in value.items():
                # Label, annotation and ConfigMap keys are data, not schema fields.
                if key not in {"labels", "annotations", "data", "stringData", "matchLabels", "selector"}:
                    found |= {key} | keys(item)
            return found
        if isinstance(value, list):
            return set().union(*(keys(item) for item in value)) if value else set()
        return set()

    every_key = set().union(*(keys(body) for body in default_stack.objects()))
    assert not {key for key in every_key if "_" in key}, "snake_case keys would be dropped by the API server"
