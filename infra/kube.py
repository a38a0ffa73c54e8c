"""Small builders for the platform's own Kubernetes bodies: labels, probes, hardened containers and pods.

Bodies are camelCase dicts (what the API server receives); pulumi-kubernetes passes camelCase keys through
unchanged, so these dicts are also exactly what the tests validate against the Kubernetes schema.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pyfaas.infra.config import ComponentResources

__all__ = [
    "APP_LABEL",
    "CONFIG_HASH",
    "PART_OF",
    "config_digest",
    "container",
    "http_probe",
    "labels",
    "pod_spec",
    "resource",
    "selector",
    "service_body",
]

APP_LABEL = "app.kubernetes.io/name"
PART_OF = "app.kubernetes.io/part-of"
PART_OF_VALUE = "pyfaas"
R = TypeVar("R")

CONFIG_HASH = "pyfaas.dev/config-hash"
"""Pod-template annotation that changes with the pod's configuration files, so a change rolls the pods."""


def selector(app: str) -> dict[str, str]:
    """The labels a workload selects its pods by (stable across upgrades: never add to it)."""
    return {APP_LABEL: app, PART_OF: PART_OF_VALUE}


def labels(app: str, component: str) -> dict[str, str]:
    return {
        **selector(app),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def http_probe(
    path: str, port: int | str, *, initial: int = 2, period: int = 10, timeout: int = 2, failures: int = 3
) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "initialDelaySeconds": initial,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "successThreshold": 1,
        "failureThreshold": failures,
    }


def container(
    name: str,
    image: str,
    *,
    resources: ComponentResources,
    ports: dict[str, int],
    readiness: dict[str, Any],
    liveness: dict[str, Any],
    run_as_user: int,
    image_pull_policy: str = "IfNotPresent",
    command: list[str] | None = None,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    startup: dict[str, Any] | None = None,
    read_only_root: bool = True,
) -> dict[str, Any]:
    """A hardened container: non-root, no privilege escalation, no capabilities, read-only root fs."""
    body: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": image_pull_policy,
        "ports": [
            {"name": port_name, "containerPort": port, "protocol": "TCP"} for port_name, port in ports.items()
        ],
        "resources": resources.body(),
        "readinessProbe": readiness,
        "livenessProbe": liveness,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": run_as_user,
            "runAsGroup": run_as_user,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": read_only_root,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if command:
        body["command"] = command
    if args:
        body["args"] = args
    if env:
        body["env"] = [{"name": key, "value": env[key]} for key in sorted(env)]
    if mounts:
        body["volumeMounts"] = mounts
    if startup:
        body["startupProbe"] = startup
    return body


def pod_spec(
    containers: list[dict[str, Any]],
    *,
    service_account: str | None = None,
    volumes: list[dict[str, Any]] | None = None,
    fs_group: int | None = None,
    termination_grace_seconds: int | None = None,
) -> dict[str, Any]:
    """A pod spec that mounts an API token only when a service account is named (it needs the API)."""
    security: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if fs_group is not None:
        security["fsGroup"] = fs_group
    spec: dict[str, Any] = {
        "containers": containers,
        "securityContext": security,
        "enableServiceLinks": False,
        "automountServiceAccountToken": service_account is not None,
    }
    if service_account is not None:
        spec["serviceAccountName"] = service_account
    if volumes:
        spec["volumes"] = volumes
    if termination_grace_seconds is not None:
        spec["terminationGracePeriodSeconds"] = termination_grace_seconds
    return spec


def service_body(app: str, ports: dict[str, int], *, service_type: str = "ClusterIP") -> dict[str, Any]:
    """A Service spec selecting ``app``'s pods; each port targets the container port of the same name."""
    return {
        "type": service_type,
        "selector": selector(app),
        "ports": [
            {"name": name, "port": port, "targetPort": name, "protocol": "TCP"}
            for name, port in ports.items()
        ],
    }


def config_digest(files: Mapping[str, str]) -> str:
    """A short stable digest of configuration files (for :data:`CONFIG_HASH`)."""
    digest = hashlib.sha256()
    for key in sorted(files):
        digest.update(key.encode() + b"\0" + files[key].encode() + b"\0")
    return digest.hexdigest()[:16]


def resource(kind: Callable[..., R], name: str, **fields: Any) -> R:
    """Register a pulumi-kubernetes resource from camelCase API bodies.

    pulumi-kubernetes passes camelCase keys through unchanged (the tests check what it sends), but its typed
    dicts spell keys in snake_case; bodies shared with the API path (``pyfaas.core.k8s``) are camelCase, so
    they are handed over untyped here, in one place.
    """
    return kind(name, **fields)
