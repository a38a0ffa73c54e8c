"""Invalid wire input is rejected, and pydantic's error location names the offending field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pyfaas.core import models

_ALERT = {"status": "firing", "labels": {"function_name": "echo"}}

CASES: list[tuple[type[models.WireModel], dict[str, Any], tuple[str | int, ...]]] = [
    (models.FunctionDeployment, {"service": "echo"}, ("image",)),
    (models.FunctionDeployment, {"service": "", "image": "img"}, ("service",)),
    (
        models.FunctionDeployment,
        {"service": "echo", "image": "img", "limits": {"memory": 128}},
        ("limits", "memory"),
    ),
    (models.FunctionDeployment, {"service": "echo", "image": "img", "secrets": "api-key"}, ("secrets",)),
    (models.FunctionDeployment, {"service": "echo", "image": "img", "labels": ["a"]}, ("labels",)),
    (
        models.FunctionDeployment,
        {"service": "echo", "image": "img", "readOnlyRootFilesystem": "maybe"},
        ("readOnlyRootFilesystem",),
    ),
    (models.FunctionStatus, {"image": "img"}, ("name",)),
    (models.FunctionStatus, {"name": "echo", "replicas": -1}, ("replicas",)),
    (models.FunctionStatus, {"name": "echo", "availableReplicas": "two"}, ("availableReplicas",)),
    (models.FunctionStatus, {"name": "echo", "createdAt": "last tuesday"}, ("createdAt",)),
    (models.FunctionStatus, {"name": "echo", "usage": {"cpu": "lots"}}, ("usage", "cpu")),
    (models.FunctionStatus, {"name": "echo", "updatedReplicas": -1}, ("updatedReplicas",)),
    (
        models.FunctionStatus,
        {"name": "echo", "replicaFailure": {"message": "x"}},
        ("replicaFailure", "reason"),
    ),
    (models.ReplicaFailure, {"reason": "r", "restarts": "often"}, ("restarts",)),
    (models.FunctionResources, {"nvidia.com/gpu": 1}, ("nvidia.com/gpu",)),
    (models.DeleteFunctionRequest, {}, ("functionName",)),
    (models.DeleteFunctionRequest, {"functionName": ""}, ("functionName",)),
    (models.ScaleServiceRequest, {"serviceName": "echo"}, ("replicas",)),
    (models.ScaleServiceRequest, {"serviceName": "echo", "replicas": -2}, ("replicas",)),
    (models.ScaleServiceRequest, {"serviceName": "echo", "replicas": "many"}, ("replicas",)),
    (models.Secret, {"value": "x"}, ("name",)),
    (models.Secret, {"name": "k", "rawValue": "not base64!"}, ("rawValue",)),
    (models.ProviderInfo, {"provider": "p"}, ("orchestration",)),
    (models.GatewayInfo, {"version": {"sha": "", "release": "dev"}}, ("arch",)),
    (models.GatewayInfo, {"arch": "amd64", "version": "dev"}, ("version",)),
    (models.LogMessage, {"name": "echo", "timestamp": "yesterday", "text": ""}, ("timestamp",)),
    (models.LogMessage, {"name": "echo", "timestamp": "2024-04-28T09:15:02Z"}, ("text",)),
    (models.AlertmanagerWebhook, {"status": "exploded", "alerts": []}, ("status",)),
    (models.AlertmanagerWebhook, {"status": "firing"}, ("alerts",)),
    (
        models.AlertmanagerWebhook,
        {"status": "firing", "alerts": [_ALERT, {"status": "?"}]},
        ("alerts", 1, "status"),
    ),
    (models.QueueRequest, {"Method": "POST"}, ("Function",)),
    (models.QueueRequest, {"Function": "echo", "Body": "%%%"}, ("Body",)),
    (models.QueueRequest, {"Function": "echo", "Header": {"X-A": "not-a-list"}}, ("Header", "X-A")),
    (models.QueueRequest, {"Function": "echo", "CallbackUrl": {"Scheme": 5}}, ("CallbackUrl", "Scheme")),
    (models.FunctionNamespace, {"name": "ns", "labels": ["a"]}, ("labels",)),
    (
        models.AsyncCallRecord,
        {"callId": "c", "function": "f", "state": "lost", "queuedAt": "2024-04-28T09:15:02Z"},
        ("state",),
    ),
    (models.AsyncCallRecord, {"callId": "c", "function": "f", "state": "queued"}, ("queuedAt",)),
]


@pytest.mark.parametrize(
    ("model", "data", "loc"),
    CASES,
    ids=[f"{model.__name__}-{'.'.join(map(str, loc))}" for model, _, loc in CASES],
)
def test_invalid_input_names_the_field(
    model: type[models.WireModel], data: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    locations = [error["loc"] for error in caught.value.errors()]
    assert loc in locations, locations


def test_every_contract_model_has_an_invalid_case() -> None:
    covered = {model for model, _, _ in CASES}
    for name in models.__all__:
        model = getattr(models, name)
        if name in {"AlertmanagerAlert", "CallbackURL", "FunctionUsage", "VersionInfo"}:
            continue  # nested: covered through their parents
        assert model in covered, f"no invalid-input case for {name}"
