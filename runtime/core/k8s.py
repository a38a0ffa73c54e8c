"""Kubernetes object bodies for a function: one pure place shared by the Kubernetes provider and Pulumi.

Every builder returns a plain JSON-ready ``dict`` in the API's camelCase with integers as ``int``, exactly the
body the API server receives, so a function deployed through ``POST /system/functions`` and one deployed by
``pulumi up`` (the ``Function`` component in ``infra/``) are the same objects. No I/O here.

The mapping follows faas-netes (contract §5.2/§5.3), with pyfaas's choices recorded in
``docs/decisions/0101-kubernetes-workload-shape.md``:

* Deployment ``<service>`` labelled ``faas_function=<service>``, selector on that label, pod template labelled
  with the function's labels plus ``faas_function``; annotations are the function's plus
  ``prometheus.io.scrape: "false"`` unless given.
* Initial replicas: ``com.openfaas.scale.min`` when >= 1; **0** when the function says ``scale.min=0`` *and*
  ``com.openfaas.scale.zero=true`` (it asked to idle at zero, so it starts there and scales from zero on its
  first call); otherwise 1.
* Rolling update with ``maxUnavailable: 0`` / ``maxSurge: 1``; one container named after the function on port
  8080 (``http``); env ``fprocess`` + envVars sorted by name; HTTP probes on ``/_/health``; secrets projected
  read-only at ``/var/openfaas/secrets``; a read-only root filesystem gets a writable ``/tmp`` emptyDir.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyfaas.core.labels import (
    LABEL_FUNCTION,
    LABEL_MANAGED_BY,
    LABEL_SCALE_MIN,
    MANAGED_BY_VALUE,
    scaling_policy,
)
from pyfaas.core.models import (
    ZERO_TIME,
    FunctionDeployment,
    FunctionNamespace,
    FunctionResources,
    FunctionStatus,
    Secret,
)
from pyfaas.core.replica_key import (
    REPLICA_KEY_DATA,
    REPLICA_KEY_ENV,
    REPLICA_KEY_LABEL,
    replica_key_secret_name,
)
from pyfaas.core.timeouts import watchdog_env

__all__ = [
    "ANNOTATION_PROMETHEUS_SCRAPE",
    "ENV_FPROCESS",
    "FIELD_MANAGER",
    "LABEL_FUNCTION_NAMESPACE",
    "LABEL_ROLLOUT",
    "PULUMI_OWNERSHIP_ANNOTATIONS",
    "FunctionWorkloadOptions",
    "function_deployment",
    "function_namespace",
    "function_secret",
    "function_service",
    "function_status",
    "initial_replicas",
    "projected_secrets_volume_name",
    "replica_key_secret",
    "resources_body",
    "secret_names",
]

ANNOTATION_PROMETHEUS_SCRAPE = "prometheus.io.scrape"
"""faas-netes writes ``"false"`` unless the function sets it (dot-separated key, as OpenFaaS writes it)."""
LABEL_ROLLOUT = "uid"
"""faas-netes sets this pod-template label to a fresh value on update to force a rollout."""
LABEL_FUNCTION_NAMESPACE = "openfaas"
"""A namespace labelled ``openfaas=1`` holds functions (OpenFaaS's multi-namespace convention)."""
FUNCTION_NAMESPACE_VALUE = "1"
ENV_FPROCESS = "fprocess"
FIELD_MANAGER = "pyfaas"
"""Server-side apply field manager of every function object, whether the gateway or ``pulumi up`` writes."""
PULUMI_OWNERSHIP_ANNOTATIONS = {
    "pulumi.com/patchFieldManager": FIELD_MANAGER,
    "pulumi.com/patchForce": "true",
}
"""On the function objects Pulumi declares: pulumi-kubernetes then applies them as :data:`FIELD_MANAGER`
(not ``pulumi-kubernetes-<random>``) and forces conflicts (e.g. with a ``/scale`` call), so the gateway and
``pulumi up`` each define the whole object when they write it (``pyfaas.provider.kubernetes.ownership``)."""
NONROOT_UID = 12000
"""faas-netes's ``set_nonroot_user`` user id."""
PORT_NAME = "http"
TMP_VOLUME = "temp"
_RESOURCE_KEYS = ("memory", "cpu", "nvidia.com/gpu", "amd.com/gpu", "intel.com/gpu")


@dataclass(frozen=True, slots=True)
class FunctionWorkloadOptions:
    """Cluster-wide settings of function workloads (faas-netes's env knobs, CE's ignored ones honoured)."""

    watchdog_port: int = 8080
    http_probe: bool = True
    """HTTP GET on :attr:`probe_path`; ``False`` uses faas-netes's exec probe ``cat /tmp/.lock``."""
    probe_path: str = "/_/health"
    probe_initial_delay_seconds: int = 2
    probe_timeout_seconds: int = 1
    probe_period_seconds: int = 2
    probe_success_threshold: int = 1
    probe_failure_threshold: int = 3
    set_nonroot_user: bool = False
    """Run as uid 12000 with ``runAsNonRoot`` (faas-netes ``set_nonroot_user``)."""
    image_pull_policy: str = "Always"
    """faas-netes's value; ``IfNotPresent`` suits clusters fed with locally built images (kind, k3d)."""
    default_limits: FunctionResources | None = None
    """Applied when a function gives no limits."""
    default_requests: FunctionResources | None = None
    """Applied when a function gives no requests."""
    secrets_mount_path: str = "/var/openfaas/secrets"
    revision_history_limit: int = 10
    termination_grace_period_seconds: int | None = None
    """None keeps Kubernetes's default (30 s); set above the watchdog's write_timeout to drain long calls."""


def _annotations(spec: FunctionDeployment) -> dict[str, str]:
    annotations = dict(spec.annotations or {})
    annotations.setdefault(ANNOTATION_PROMETHEUS_SCRAPE, "false")
    return annotations


def _selector(name: str) -> dict[str, str]:
    return {LABEL_FUNCTION: name}


def initial_replicas(spec: FunctionDeployment) -> int:
    """Replicas of a newly created Deployment (see the module docstring for the zero rule)."""
    policy = scaling_policy(spec.labels)
    if policy.min_replicas >= 1:
        return policy.min_replicas
    explicit_zero = (spec.labels or {}).get(LABEL_SCALE_MIN, "").strip() == "0"
    return 0 if explicit_zero and policy.zero else 1


def resources_body(
    limits: FunctionResources | None, requests: FunctionResources | None
) -> dict[str, dict[str, str]]:
    """A container's ``resources``: only keys with a value, only sections with a key."""
    body: dict[str, dict[str, str]] = {}
    for section, resources in (("limits", limits), ("requests", requests)):
        values = resources.wire() if resources is not None else {}
        picked = {key: str(values[key]) for key in _RESOURCE_KEYS if values.get(key)}
        if picked:
            body[section] = picked
    return body


def projected_secrets_volume_name(name: str) -> str:
    return f"{name}-projected-secrets"


def _probe(options: FunctionWorkloadOptions) -> dict[str, Any]:
    handler: dict[str, Any]
    if options.http_probe:
        handler = {"httpGet": {"path": options.probe_path, "port": options.watchdog_port, "scheme": "HTTP"}}
    else:
        handler = {"exec": {"command": ["cat", "/tmp/.lock"]}}
    return {
        **handler,
        "initialDelaySeconds": options.probe_initial_delay_seconds,
        "timeoutSeconds": options.probe_timeout_seconds,
        "periodSeconds": options.probe_period_seconds,
        "successThreshold": options.probe_success_threshold,
        "failureThreshold": options.probe_failure_threshold,
    }


def _env(spec: FunctionDeployment) -> list[dict[str, str]]:
    values = dict(spec.envVars or {})
    values.update(watchdog_env(spec.annotations, spec.envVars))  # from com.openfaas.timeout; envVars win
    if spec.envProcess:
        values[ENV_FPROCESS] = spec.envProcess
    return [{"name": key, "value": values[key]} for key in sorted(values)]


def function_deployment(
    spec: FunctionDeployment,
    *,
    namespace: str,
    options: FunctionWorkloadOptions,
    replicas: int | None = None,
    image_pull_secrets: Iterable[str] = (),
    rollout_token: str | None = None,
    replica_key: bool = False,
) -> dict[str, Any]:
    """The ``apps/v1`` Deployment of a function.

    ``replicas`` defaults to :func:`initial_replicas`; the provider passes the current count on update.
    Secrets named in ``image_pull_secrets`` (registry credentials) become ``imagePullSecrets``, not files.
    ``rollout_token`` sets the ``uid`` pod-template label, forcing a rollout even when nothing else changed.
    ``replica_key`` gives the watchdog the function's key from its Secret (:func:`replica_key_secret`), by
    reference: the key itself is never in the Deployment.
    """
    name = spec.service
    annotations = _annotations(spec)
    pod_labels = {**(spec.labels or {}), LABEL_FUNCTION: name}
    if rollout_token is not None:
        pod_labels[LABEL_ROLLOUT] = rollout_token
    pull_secrets = set(image_pull_secrets)
    file_secrets = sorted({s for s in spec.secrets or [] if s not in pull_secrets})
    used_pull_secrets = sorted({s for s in spec.secrets or [] if s in pull_secrets})

    security: dict[str, Any] = {
        "readOnlyRootFilesystem": spec.readOnlyRootFilesystem,
        "allowPrivilegeEscalation": False,
    }
    if options.set_nonroot_user:
        security["runAsUser"] = NONROOT_UID
        security["runAsNonRoot"] = True

    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    if file_secrets:
        volume = projected_secrets_volume_name(name)
        volumes.append(
            {"name": volume, "projected": {"sources": [{"secret": {"name": s}} for s in file_secrets]}}
        )
        mounts.append({"name": volume, "mountPath": options.secrets_mount_path, "readOnly": True})
    if spec.readOnlyRootFilesystem:
        volumes.append({"name": TMP_VOLUME, "emptyDir": {}})
        mounts.append({"name": TMP_VOLUME, "mountPath": "/tmp"})

    container: dict[str, Any] = {
        "name": name,
        "image": spec.image,
        "imagePullPolicy": options.image_pull_policy,
        "ports": [{"name": PORT_NAME, "containerPort": options.watchdog_port, "protocol": "TCP"}],
        "env": [*_env(spec), _replica_key_env(name)] if replica_key else _env(spec),
        "resources": resources_body(
            spec.limits if spec.limits is not None else options.default_limits,
            spec.requests if spec.requests is not None else options.default_requests,
        ),
        "readinessProbe": _probe(options),
        "livenessProbe": _probe(options),
        "securityContext": security,
        # A crashed container's status then carries the end of its output: why the function cannot start.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if mounts:
        container["volumeMounts"] = mounts

    pod_spec: dict[str, Any] = {
        "containers": [container],
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
    }
    if volumes:
        pod_spec["volumes"] = volumes
    if used_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in used_pull_secrets]
    if options.termination_grace_period_seconds is not None:
        pod_spec["terminationGracePeriodSeconds"] = options.termination_grace_period_seconds

    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": _selector(name),
            "annotations": annotations,
        },
        "spec": {
            "replicas": initial_replicas(spec) if replicas is None else int(replicas),
            "selector": {"matchLabels": _selector(name)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "revisionHistoryLimit": options.revision_history_limit,
            "template": {
                "metadata": {"labels": pod_labels, "annotations": dict(annotations)},
                "spec": pod_spec,
            },
        },
    }


def _replica_key_env(name: str) -> dict[str, Any]:
    # Not optional: a pod must not start unkeyed (open to every other pod) when its Secret is missing.
    ref = {"name": replica_key_secret_name(name), "key": REPLICA_KEY_DATA}
    return {"name": REPLICA_KEY_ENV, "valueFrom": {"secretKeyRef": ref}}


def replica_key_secret(name: str, *, namespace: str, key: str) -> dict[str, Any]:
    """The Opaque Secret holding function ``name``'s replica key (``pyfaas.core.replica_key``).

    Labelled :data:`REPLICA_KEY_LABEL` (what the gateway watches), not managed-by, so ``/system/secrets``
    does not list it as a user's secret.
    """
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": replica_key_secret_name(name),
            "namespace": namespace,
            "labels": {REPLICA_KEY_LABEL: name},
        },
        "type": "Opaque",
        "data": {REPLICA_KEY_DATA: base64.b64encode(key.encode()).decode()},
    }


def function_service(
    spec: FunctionDeployment, *, namespace: str, options: FunctionWorkloadOptions | None = None
) -> dict[str, Any]:
    """The ClusterIP ``v1`` Service in front of a function's pods (port 8080 named ``http``)."""
    port = (options or FunctionWorkloadOptions()).watchdog_port
    name = spec.service
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": _selector(name),
            "annotations": _annotations(spec),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(name),
            "ports": [{"name": PORT_NAME, "protocol": "TCP", "port": port, "targetPort": port}],
        },
    }


def function_secret(secret: Secret, *, namespace: str) -> dict[str, Any]:
    """An Opaque ``v1`` Secret with one key named after the secret, labelled as managed by pyfaas."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret.name,
            "namespace": namespace,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY_VALUE},
        },
        "type": "Opaque",
        "data": {secret.name: base64.b64encode(secret.payload()).decode()},
    }


def function_namespace(namespace: FunctionNamespace) -> dict[str, Any]:
    """A ``v1`` Namespace labelled ``openfaas=1`` so providers list it as a function namespace."""
    labels = {**(namespace.labels or {}), LABEL_FUNCTION_NAMESPACE: FUNCTION_NAMESPACE_VALUE}
    metadata: dict[str, Any] = {"name": namespace.name, "labels": labels}
    if namespace.annotations:
        metadata["annotations"] = dict(namespace.annotations)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


# --- reading objects back ----------------------------------------------------------------------------------


def secret_names(pod_spec: Mapping[str, Any]) -> list[str]:
    """Names of the secrets a pod spec uses: projected-volume sources plus imagePullSecrets, sorted."""
    names: set[str] = set()
    for volume in pod_spec.get("volumes") or []:
        for source in (volume.get("projected") or {}).get("sources") or []:
            if secret := source.get("secret"):
                names.add(secret["name"])
    for ref in pod_spec.get("imagePullSecrets") or []:
        if ref.get("name"):
            names.add(ref["name"])
    return sorted(names)


def _resources(section: Mapping[str, Any] | None) -> FunctionResources | None:
    if not section:
        return None
    resources = FunctionResources.model_validate({key: str(value) for key, value in section.items()})
    return None if resources.is_empty() else resources


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ZERO_TIME


def _user_annotations(annotations: Mapping[str, str] | None) -> dict[str, str]:
    # The builder adds prometheus.io.scrape="false" when absent; an explicit "false" means the same thing, so
    # status leaves it out and a function reads back the annotations it was deployed with.
    found = dict(annotations or {})
    if found.get(ANNOTATION_PROMETHEUS_SCRAPE) == "false":
        del found[ANNOTATION_PROMETHEUS_SCRAPE]
    return found


def function_status(deployment: Mapping[str, Any]) -> FunctionStatus:
    """FunctionStatus of a function's Deployment as the API returns it (camelCase dict), contract §5.3.

    ``replicas`` is the desired count, ``availableReplicas`` the Deployment's ready-for-minReadySeconds count;
    labels and annotations are the pod template's (without the defaulted ``prometheus.io.scrape: "false"``),
    envVars and readOnlyRootFilesystem are reported too
    (faas-netes omits them; pyfaas's local provider reports them, and both providers should agree).
    """
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    template = spec.get("template") or {}
    pod_meta = template.get("metadata") or {}
    pod_spec = template.get("spec") or {}
    containers = pod_spec.get("containers") or [{}]
    container = containers[0]
    env = {
        item["name"]: item.get("value", "")
        for item in container.get("env") or []
        if "name" in item and item["name"] != REPLICA_KEY_ENV
    }
    fprocess = env.pop(ENV_FPROCESS, None)
    for name, value in watchdog_env(pod_meta.get("annotations"), None).items():
        if env.get(name) == value:  # derived from the declared timeout, not the function's own envVars
            del env[name]
    resources = container.get("resources") or {}
    read_only = bool((container.get("securityContext") or {}).get("readOnlyRootFilesystem", False))
    return FunctionStatus(
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace"),
        image=container.get("image", ""),
        envProcess=fprocess,
        envVars=env or None,
        labels=dict(pod_meta.get("labels") or {}),
        annotations=_user_annotations(pod_meta.get("annotations")),
        secrets=secret_names(pod_spec) or None,
        limits=_resources(resources.get("limits")),
        requests=_resources(resources.get("requests")),
        readOnlyRootFilesystem=read_only,
        replicas=int(spec.get("replicas") or 0),
        availableReplicas=int(status.get("availableReplicas") or 0),
        createdAt=_timestamp(metadata.get("creationTimestamp")),
    )
