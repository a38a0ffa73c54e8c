"""The ``Function`` custom resource (``openfaas.com/v1``): its CRD and its mapping to FunctionDeployment.

One pure source (no I/O) shared by the operator, the gateway's operator-mode provider, ``pyfaas generate`` and
the Pulumi program. The spec keeps OpenFaaS's field names (``name``, ``image``, ``handler``, ``labels``,
``annotations``, ``environment``, ``secrets``, ``constraints``, ``limits``, ``requests``,
``readOnlyRootFilesystem``) so ``faas-cli generate`` output applies unchanged; pyfaas adds one optional field,
``replicas``, the target of the ``scale`` subresource. ``handler`` becomes the watchdog's ``fprocess`` (as in
faas-netes's operator); ``environment`` becomes the container's env.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pyfaas.core.errors import ValidationFailed
from pyfaas.core.models import FunctionDeployment, FunctionResources
from pyfaas.core.names import DNS1123_LABEL

__all__ = [
    "API_VERSION",
    "CRD_NAME",
    "GROUP",
    "IMAGE_PATTERN",
    "KIND",
    "PLURAL",
    "QUANTITY_PATTERN",
    "VERSION",
    "FunctionSpec",
    "deployment_of",
    "function_crd",
    "function_object",
]

GROUP = "openfaas.com"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Function"
PLURAL = "functions"
CRD_NAME = f"{PLURAL}.{GROUP}"

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""DNS-1123 label: the function's Deployment and Service carry this name."""
NAME_PATTERN_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""Secret names are DNS-1123 subdomains."""
IMAGE_PATTERN = (
    r"^[a-zA-Z0-9]+([._-][a-zA-Z0-9]+)*(:[0-9]+)?"  # registry host (or first path part), optional port
    r"(/[a-z0-9]+([._-]+[a-z0-9]+)*)*"  # repository path
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"  # tag
    r"(@[a-z0-9]+:[a-f0-9]{32,})?$"  # digest
)
"""An image reference (``host[:port]/path[:tag][@digest]``); no spaces, schemes or empty parts."""
_NUMBER = r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
QUANTITY_PATTERN = rf"^(\+|-)?{_NUMBER}(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?{_NUMBER}))?$"
"""A Kubernetes resource quantity (``128Mi``, ``100m``, ``0.5``), as the API's own schemas write it."""
RESOURCE_KEYS = ("memory", "cpu", "nvidia.com/gpu", "amd.com/gpu", "intel.com/gpu")

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_QUANTITY = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
    "pattern": QUANTITY_PATTERN,
}
_RESOURCES = {
    "type": "object",
    "description": "Kubernetes quantities: memory (128Mi), cpu (100m) and the GPU keys OpenFaaS accepts.",
    "properties": {key: dict(_QUANTITY) for key in RESOURCE_KEYS},
}
_CONDITION = {
    "type": "object",
    "required": ["type", "status"],
    "properties": {
        "type": {"type": "string"},
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "lastTransitionTime": {"type": "string", "format": "date-time"},
        "observedGeneration": {"type": "integer", "format": "int64"},
    },
}


def _spec_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "An OpenFaaS function (faas-netes's Function spec; replicas is a pyfaas extension).",
        "required": ["name", "image"],
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 63, "minLength": 1},
            "image": {"type": "string", "pattern": IMAGE_PATTERN, "maxLength": 512, "minLength": 1},
            "handler": {"type": "string", "description": "The watchdog's fprocess."},
            "annotations": dict(_STRING_MAP),
            "labels": dict(_STRING_MAP),
            "environment": dict(_STRING_MAP),
            "constraints": {"type": "array", "items": {"type": "string"}},
            "secrets": {"type": "array", "items": {"type": "string", "pattern": NAME_PATTERN_SUBDOMAIN}},
            "limits": dict(_RESOURCES),
            "requests": dict(_RESOURCES),
            "readOnlyRootFilesystem": {"type": "boolean"},
            "replicas": {
                "type": "integer",
                "format": "int32",
                "minimum": 0,
                "description": "Desired replicas (scale subresource); unset: com.openfaas.scale.min or 1.",
            },
        },
    }


def _status_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "replicas": {"type": "integer", "format": "int32", "description": "Pods of the Deployment."},
            "availableReplicas": {"type": "integer", "format": "int32"},
            "readyReplicas": {"type": "integer", "format": "int32"},
            "selector": {"type": "string", "description": "Label selector of the pods (scale subresource)."},
            "image": {"type": "string"},
            "conditions": {
                "type": "array",
                "items": _CONDITION,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
            "kopf": {
                "type": "object",
                "description": "The operator framework's bookkeeping (handler progress, last spec handled).",
                "x-kubernetes-preserve-unknown-fields": True,
            },
        },
    }


def function_crd() -> dict[str, Any]:
    """The ``apiextensions.k8s.io/v1`` CustomResourceDefinition of ``functions.openfaas.com``."""
    ready = '.status.conditions[?(@.type=="Ready")]'
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {"app.kubernetes.io/part-of": "pyfaas"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": "function",
                "shortNames": ["fn"],
                "categories": ["openfaas"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "Function describes an OpenFaaS function",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": _spec_schema(),
                                "status": _status_schema(),
                            },
                        }
                    },
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": [
                        {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
                        {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
                        {"name": "Replicas", "type": "integer", "jsonPath": ".status.replicas"},
                        {"name": "Status", "type": "string", "jsonPath": f"{ready}.reason"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }
            ],
        },
    }


# --- the spec as data ------------------------------------------------------------------------------------


def _quantity(value: Any) -> Any:
    # The schema accepts integers (x-kubernetes-int-or-string); FunctionResources holds strings.
    if isinstance(value, dict):
        return {
            k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
            for k, v in value.items()
        }
    return value


class FunctionSpec(BaseModel):
    """``spec`` of a Function object, checked again by the operator (the CRD may be older or absent)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(..., min_length=1, max_length=63, pattern=NAME_PATTERN)
    image: str = Field(..., min_length=1, max_length=512, pattern=IMAGE_PATTERN)
    handler: str | None = None
    annotations: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    environment: dict[str, str] | None = None
    constraints: list[str] | None = None
    secrets: list[str] | None = None
    limits: FunctionResources | None = None
    requests: FunctionResources | None = None
    readOnlyRootFilesystem: bool = False
    replicas: int | None = Field(None, ge=0)

    @field_validator("limits", "requests", mode="before")
    @classmethod
    def _quantities(cls, value: Any) -> Any:
        return _quantity(value)

    @field_validator("limits", "requests")
    @classmethod
    def _valid_quantities(cls, value: FunctionResources | None) -> FunctionResources | None:
        for key, quantity in (value.wire() if value is not None else {}).items():
            if not re.match(QUANTITY_PATTERN, str(quantity)):
                raise ValueError(f"{key}: {quantity!r} is not a Kubernetes quantity")
        return value


def _field_path(error: Mapping[str, Any]) -> str:
    return ".".join(["spec", *(str(part) for part in error.get("loc", ()))])


def deployment_of(body: Mapping[str, Any]) -> tuple[FunctionDeployment, int | None]:
    """The FunctionDeployment a Function object describes, and its ``spec.replicas`` (None when unset).

    ``ValidationFailed`` names the offending field (``spec.image``, ``spec.name`` ...).
    """
    metadata = body.get("metadata") or {}
    raw = body.get("spec")
    if not isinstance(raw, Mapping):
        raise ValidationFailed("a Function needs a spec", field="spec")
    try:
        spec = FunctionSpec.model_validate(dict(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _field_path(first)
        raise ValidationFailed(f"{path}: {first['msg']}", field=path) from exc
    name = metadata.get("name")
    if name and name != spec.name:
        raise ValidationFailed(
            f"spec.name {spec.name!r} must equal metadata.name {name!r}", field="spec.name"
        )
    if not DNS1123_LABEL.match(spec.name):
        raise ValidationFailed(f"spec.name {spec.name!r} is not a DNS-1123 label", field="spec.name")
    deployment = FunctionDeployment(
        service=spec.name,
        image=spec.image,
        namespace=metadata.get("namespace"),
        envProcess=spec.handler or None,
        envVars=spec.environment or None,
        constraints=spec.constraints or None,
        secrets=spec.secrets or None,
        labels=spec.labels,
        annotations=spec.annotations,
        limits=spec.limits if spec.limits is not None and not spec.limits.is_empty() else None,
        requests=spec.requests if spec.requests is not None and not spec.requests.is_empty() else None,
        readOnlyRootFilesystem=spec.readOnlyRootFilesystem,
    )
    return deployment, spec.replicas


def function_object(
    spec: FunctionDeployment, *, namespace: str, replicas: int | None = None
) -> dict[str, Any]:
    """The Function object for ``spec`` in faas-cli generate's shape (empty fields left out)."""
    body: dict[str, Any] = {"name": spec.service, "image": spec.image}
    if spec.envProcess:
        body["handler"] = spec.envProcess
    if spec.envVars:
        body["environment"] = dict(spec.envVars)
    if spec.labels:
        body["labels"] = dict(spec.labels)
    if spec.annotations:
        body["annotations"] = dict(spec.annotations)
    for key, resources in (("limits", spec.limits), ("requests", spec.requests)):
        if resources is not None and not resources.is_empty():
            body[key] = {k: str(v) for k, v in resources.wire().items()}
    if spec.constraints:
        body["constraints"] = list(spec.constraints)
    if spec.secrets:
        body["secrets"] = list(spec.secrets)
    if spec.readOnlyRootFilesystem:
        body["readOnlyRootFilesystem"] = True
    if replicas is not None:
        body["replicas"] = int(replicas)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": spec.service, "namespace": namespace},
        "spec": body,
    }
