"""Validate Kubernetes object bodies against the OpenAPI-derived JSON schemas bundled by kubernetes-validate.

Uses the *strict* schema variant (``additionalProperties: false`` everywhere, so an unknown or misspelt field
is an error, as server-side field validation ``Strict`` reports it). On top of the
schema, checks what the API server validates in Go code and the schema cannot express but our bodies could get
wrong: integers sent as floats, DNS names, label keys and values.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import referencing
import referencing.jsonschema

__all__ = ["SCHEMA_VERSIONS", "bundled_versions", "schema_errors"]

SCHEMA_VERSIONS = ("1.30", "1.37")
"""Kubernetes versions every body pyfaas sends is checked against."""

_ROOT = Path(str(resources.files("kubernetes_validate") / "kubernetes-json-schema"))
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def bundled_versions() -> list[str]:
    """Kubernetes minor versions kubernetes-validate bundles schemas for, e.g. ``["1.25", ..., "1.37"]``."""
    found = {
        m.group(1) for p in _ROOT.iterdir() if (m := re.match(r"^v(\d+\.\d+)\.\d+-local-strict$", p.name))
    }
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


def _schema_dir(version: str) -> Path:
    path = _ROOT / f"v{version}.0-local-strict"
    if not path.is_dir():
        raise ValueError(f"kubernetes-validate bundles no schema for Kubernetes {version}")
    return path


@cache
def _registry(version: str) -> referencing.Registry[Any]:
    definitions = json.loads((_schema_dir(version) / "_definitions.json").read_text())
    resource = referencing.Resource.from_contents(
        definitions, default_specification=referencing.jsonschema.DRAFT202012
    )
    return resource @ referencing.Registry()


@cache
def _validator(version: str, kind: str, api_version: str) -> jsonschema.protocols.Validator:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir(version) / f"{kind.lower()}-{group_version}.json"
    if not path.is_file():
        raise ValueError(f"no schema for {kind} {api_version} in Kubernetes {version}")
    schema = json.loads(path.read_text())
    validator_cls = jsonschema.validators.Draft202012Validator
    return validator_cls(schema, registry=_registry(version))


def _floats(value: Any, path: str) -> list[str]:
    if isinstance(value, float):
        return [f"{path}: number {value!r} must be sent as an integer"]
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in _floats(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [e for i, v in enumerate(value) for e in _floats(v, f"{path}[{i}]")]
    return []


def _label_errors(labels: Any, path: str) -> list[str]:
    errors: list[str] = []
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
            errors.append(f"{path}: label key {key!r} has an invalid prefix")
        if len(name) > 63 or not _LABEL_NAME.match(name):
            errors.append(f"{path}: label key {key!r} is invalid")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            errors.append(f"{path}: label value {value!r} of {key!r} is invalid")
    return errors


def _metadata_errors(body: dict[str, Any]) -> list[str]:
    metadata = body.get("metadata") or {}
    errors = _label_errors(metadata.get("labels"), "metadata.labels")
    name = metadata.get("name", "")
    kind = body.get("kind")
    # Services and Namespaces need DNS-1123 labels, most other kinds DNS-1123 subdomains.
    pattern, limit = (_DNS_LABEL, 63) if kind in {"Service", "Namespace"} else (_DNS_SUBDOMAIN, 253)
    if name and (len(name) > limit or not pattern.match(name)):
        errors.append(f"metadata.name: {name!r} is not a valid {kind} name")
    template = ((body.get("spec") or {}).get("template") or {}).get("metadata") or {}
    errors += _label_errors(template.get("labels"), "spec.template.metadata.labels")
    return errors


def schema_errors(body: Any, version: str) -> list[str]:
    """Every problem the Kubernetes ``version`` API server would report for ``body``; empty when valid."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return ["kind and apiVersion are required"]
    try:
        validator = _validator(version, kind, api_version)
    except ValueError as exc:
        return [str(exc)]
    errors = [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(body)
    ]
    return errors + _floats(body, "") + _metadata_errors(body)
