"""Loading of the golden OpenFaaS JSON samples under ``golden/``.

File names say which model a sample belongs to: ``<model>.<case>.json`` is canonical (parse then ``wire()``
gives the same JSON back); ``lenient/<model>.<case>.in.json`` is input OpenFaaS clients may send and
``.out.json`` next to it is what ``wire()`` must produce from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyfaas.core import models

GOLDEN_DIR = Path(__file__).parent / "golden"

MODEL_BY_PREFIX: dict[str, type[models.WireModel]] = {
    "function_deployment": models.FunctionDeployment,
    "function_status": models.FunctionStatus,
    "function_resources": models.FunctionResources,
    "delete_function_request": models.DeleteFunctionRequest,
    "scale_service_request": models.ScaleServiceRequest,
    "secret": models.Secret,
    "provider_info": models.ProviderInfo,
    "gateway_info": models.GatewayInfo,
    "log_message": models.LogMessage,
    "alertmanager_webhook": models.AlertmanagerWebhook,
    "queue_request": models.QueueRequest,
    "function_namespace": models.FunctionNamespace,
    "async_call_record": models.AsyncCallRecord,
}

SCHEMA_BY_PREFIX: dict[str, str] = {
    "function_deployment": "FunctionDeployment",
    "function_status": "FunctionStatus",
    "function_resources": "FunctionResources",
    "delete_function_request": "DeleteFunctionRequest",
    "scale_service_request": "ScaleServiceRequest",
    "secret": "Secret",
    "provider_info": "ProviderInfo",
    "gateway_info": "GatewayInfo",
    "log_message": "LogEntry",
    "alertmanager_webhook": "PrometheusAlert",
}
"""Component schemas of the OpenFaaS spec; QueueRequest, FunctionNamespace and AsyncCallRecord have none."""


@dataclass(frozen=True)
class Sample:
    case: str
    """File stem, e.g. ``function_status.zero`` or ``lenient/secret.extra_fields``."""
    model: type[models.WireModel]
    prefix: str
    given: Any
    """The JSON a client sends."""
    expected: Any
    """The JSON ``wire()`` must produce."""
    given_text: str


def _prefix(name: str) -> str:
    return name.split(".", 1)[0]


def canonical_samples() -> list[Sample]:
    out = []
    for path in sorted(GOLDEN_DIR.glob("*.json")):
        text = path.read_text()
        data = json.loads(text)
        prefix = _prefix(path.name)
        out.append(Sample(path.stem, MODEL_BY_PREFIX[prefix], prefix, data, data, text))
    return out


def lenient_samples() -> list[Sample]:
    out = []
    for path in sorted((GOLDEN_DIR / "lenient").glob("*.in.json")):
        text = path.read_text()
        expected_path = path.with_name(path.name.replace(".in.json", ".out.json"))
        prefix = _prefix(path.name)
        stem = path.name.removesuffix(".in.json")
        expected = json.loads(expected_path.read_text())
        out.append(
            Sample(f"lenient/{stem}", MODEL_BY_PREFIX[prefix], prefix, json.loads(text), expected, text)
        )
    return out


def canonical_json(value: Any) -> str:
    """Key order free, but type exact: ``1337`` differs from ``1337.0`` and ``true`` from ``1``."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
