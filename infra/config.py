"""The stack configuration (``pyfaas:*`` keys), typed and validated once when the program starts.

Every key is optional: an empty stack deploys the whole platform with pinned images, one gateway replica and
a single-node NATS. Structured keys take objects (``pulumi config set --path pyfaas:gateway.replicas 2``).
A bad value stops the program before any resource is registered, with an error naming the key, e.g.
``stack config pyfaas:gateway.replicas: Input should be greater than or equal to 1 (got 0)``.
``Pulumi.example.yaml`` documents every key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from pyfaas.core.errors import ConfigError, ValidationFailed
from pyfaas.core.names import DNS1123_LABEL, validate_secret_name
from pyfaas.core.version import __version__

__all__ = [
    "DEFAULT_IMAGES",
    "PROJECT",
    "AlertManagerConfig",
    "ComponentResources",
    "FunctionDefaultsConfig",
    "GatewayConfig",
    "IdlerConfig",
    "NatsConfig",
    "PlatformConfig",
    "PrometheusConfig",
    "Quantities",
    "QueueWorkerConfig",
    "load_config",
]

PROJECT = "pyfaas"
"""The Pulumi project name: config keys are ``pyfaas:<key>``."""

DEFAULT_IMAGES = {
    "platform": f"ghcr.io/pyfaas/pyfaas:{__version__}",  # the image built from this release
    "nats": "nats:2.10.24-alpine",
    "prometheus": "prom/prometheus:v2.55.1",
    "alertmanager": "prom/alertmanager:v0.27.0",
}


class _Section(BaseModel):
    """camelCase keys as Pulumi users write them; unknown keys are errors (a typo must not pass silently)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,
    )


class Quantities(_Section):
    cpu: str | None = None
    memory: str | None = None

    def body(self) -> dict[str, str]:
        return {key: value for key, value in (("cpu", self.cpu), ("memory", self.memory)) if value}


class ComponentResources(_Section):
    """A container's requests and limits (Kubernetes quantities)."""

    requests: Quantities
    limits: Quantities

    def body(self) -> dict[str, dict[str, str]]:
        return {"requests": self.requests.body(), "limits": self.limits.body()}


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Any:
    return Field(
        default_factory=lambda: ComponentResources(
            requests=Quantities(cpu=cpu, memory=memory), limits=Quantities(cpu=cpu_limit, memory=memory_limit)
        )
    )


ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]


class GatewayConfig(_Section):
    replicas: int = Field(1, ge=1, le=50)
    service_type: ServiceType = "ClusterIP"
    """Type of the extra ``gateway-external`` Service; ``ClusterIP`` creates none."""
    node_port: int | None = Field(None, ge=30000, le=32767)
    basic_auth: bool = True
    manage_namespaces: bool = False
    """Let the API create and delete function namespaces (grants the provider's rights cluster-wide)."""
    scale_from_zero: bool = True
    read_timeout: str = "65s"
    write_timeout: str = "65s"
    upstream_timeout: str = "60s"
    shutdown_delay: str = "3s"
    """After SIGTERM a gateway pod keeps serving this long (``/healthz`` 503) while kube-proxy removes it from
    the Service's endpoints, so a rolling update or a deleted pod refuses no new connection."""
    log_level: str = "INFO"
    resources: ComponentResources = _resources("100m", "128Mi", "1", "512Mi")


class NatsConfig(_Section):
    image: str = DEFAULT_IMAGES["nats"]
    replicas: Literal[1, 3] = 1
    """1 (single node) or 3 (a JetStream cluster, streams replicated on every node)."""
    storage_size: str = "2Gi"
    storage_class: str | None = None
    """StorageClass of the JetStream volume; unset uses the cluster's default."""
    max_file_store: str = "1536M"
    """JetStream file store limit (keep it below ``storageSize``)."""
    resources: ComponentResources = _resources("100m", "128Mi", "1", "512Mi")


class PrometheusConfig(_Section):
    enabled: bool = True
    image: str = DEFAULT_IMAGES["prometheus"]
    retention: str = "6h"
    resources: ComponentResources = _resources("100m", "256Mi", "1", "1Gi")


class AlertManagerConfig(_Section):
    enabled: bool = True
    image: str = DEFAULT_IMAGES["alertmanager"]
    resources: ComponentResources = _resources("20m", "32Mi", "200m", "128Mi")


class QueueWorkerConfig(_Section):
    enabled: bool = True
    replicas: int = Field(1, ge=1, le=50)
    max_inflight: int = Field(50, ge=1)
    ack_wait: str | None = None
    """Unset: each function's ack wait is derived from its declared timeout (60s without one)."""
    max_retry_attempts: int = Field(10, ge=1)
    upstream_timeout: str = "300s"
    resources: ComponentResources = _resources("50m", "64Mi", "500m", "256Mi")


class IdlerConfig(_Section):
    enabled: bool = True
    inactivity_duration: str = "15m"
    reconcile_interval: str | None = None
    """Unset keeps the idler's own default (1s: the same loop does target tracking)."""
    dry_run: bool = False
    resources: ComponentResources = _resources("20m", "48Mi", "200m", "128Mi")


class FunctionDefaultsConfig(_Section):
    """Cluster-wide shape of function pods, shared by ``pulumi up`` and the gateway's Kubernetes provider."""

    http_probe: bool = True
    set_non_root_user: bool = True
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    memory_limit: str = "256Mi"
    memory_request: str = "64Mi"
    cpu_request: str = "50m"


class OperatorConfig(_Section):
    """``pyfaas-operator`` (operator mode): installs the Function CRD and runs the operator."""

    enabled: bool = False
    replicas: int = Field(2, ge=1, le=5)
    """Pods; one acts (Lease leader election), the others stand by."""


class PlatformConfig(_Section):
    """Every ``pyfaas:*`` key."""

    control_namespace: str = "openfaas"
    function_namespace: str = "openfaas-fn"
    extra_function_namespaces: list[str] = Field(default_factory=list)
    create_namespaces: bool = True
    """False when the namespaces exist already (created by a cluster administrator)."""
    image: str = DEFAULT_IMAGES["platform"]
    """The platform image: gateway, queue-worker and idler, chosen by command."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    admin_user: str = Field("admin", min_length=1)
    allow_unpinned_images: bool = False
    functions_file: str | None = None
    """A Python file declaring functions (``pyfaas.core.definitions``), relative to the project folder."""
    stack_file: str | None = None
    """An OpenFaaS ``stack.yml`` whose functions are deployed too, relative to the project folder."""
    function_secrets: dict[str, str] = Field(default_factory=dict, repr=False)
    """Secrets functions name: ``name`` (default function namespace) or ``namespace/name`` → value.

    Set with ``pulumi config set --secret --path 'pyfaas:functionSecrets.<name>' <value>``; values never
    appear in error messages and reach Pulumi as secrets."""
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    nats: NatsConfig = Field(default_factory=NatsConfig)
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    alertmanager: AlertManagerConfig = Field(default_factory=AlertManagerConfig)
    queue_worker: QueueWorkerConfig = Field(default_factory=QueueWorkerConfig)
    idler: IdlerConfig = Field(default_factory=IdlerConfig)
    function_defaults: FunctionDefaultsConfig = Field(default_factory=FunctionDefaultsConfig)
    operator: OperatorConfig = Field(default_factory=OperatorConfig)
    functions_as: Literal["deployments", "crd"] = "deployments"
    """``crd``: functions are ``Function`` objects, reconciled by the operator (gateway in operator mode)."""

    @field_validator("control_namespace", "function_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not DNS1123_LABEL.match(value) or len(value) > 63:
            raise ValueError(f"{value!r} is not a valid namespace name (DNS-1123 label)")
        return value

    @field_validator("extra_function_namespaces")
    @classmethod
    def _namespaces(cls, values: list[str]) -> list[str]:
        for value in values:
            cls._namespace(value)
        return values

    @field_validator("function_secrets")
    @classmethod
    def _secret_names(cls, values: dict[str, str]) -> dict[str, str]:
        for key in values:
            namespace, _, name = key.rpartition("/")
            try:
                validate_secret_name(name)
            except ValidationFailed as exc:
                raise ValueError(f"{key!r}: {exc.message}") from exc
            if namespace and not DNS1123_LABEL.match(namespace):
                raise ValueError(f"{key!r}: {namespace!r} is not a valid namespace name")
        return values

    def secrets_by_namespace(self) -> dict[str, dict[str, str]]:
        """``functionSecrets`` grouped by namespace (unqualified names go to the default one)."""
        grouped: dict[str, dict[str, str]] = {}
        for key, value in self.function_secrets.items():
            namespace, _, name = key.rpartition("/")
            grouped.setdefault(namespace or self.function_namespace, {})[name] = value
        return grouped

    @model_validator(mode="after")
    def _checks(self) -> PlatformConfig:
        if self.control_namespace in self.function_namespaces:
            raise _KeyedError("controlNamespace", "must differ from every function namespace")
        if not self.allow_unpinned_images:
            for key, image in self.images().items():
                if not _is_pinned(image):
                    raise _KeyedError(
                        key, f"image {image!r} has no pinned tag (set allowUnpinnedImages to allow)"
                    )
        for namespace in self.secrets_by_namespace():
            if namespace not in self.function_namespaces:
                raise _KeyedError("functionSecrets", f"namespace {namespace!r} is not a function namespace")
        if self.functions_as == "crd" and not self.operator.enabled:
            raise _KeyedError(
                "functionsAs", "crd needs operator.enabled (nothing would reconcile the Functions)"
            )
        if self.alertmanager.enabled and not self.prometheus.enabled:
            raise _KeyedError("alertmanager.enabled", "AlertManager needs Prometheus (prometheus.enabled)")
        return self

    @property
    def function_namespaces(self) -> list[str]:
        """The default function namespace first, then the extra ones (deduplicated)."""
        return list(dict.fromkeys([self.function_namespace, *self.extra_function_namespaces]))

    def images(self) -> dict[str, str]:
        """Image per config key."""
        return {
            "image": self.image,
            "nats.image": self.nats.image,
            "prometheus.image": self.prometheus.image,
            "alertmanager.image": self.alertmanager.image,
        }


class _KeyedError(ValueError):
    """A cross-field problem that belongs to one key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in {"", "latest"}


def _decode(value: Any) -> Any:
    # Pulumi hands structured values over as JSON text; plain strings stay strings.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def load_config(values: Mapping[str, Any], *, project: str = PROJECT) -> PlatformConfig:
    """Validate the stack config. ``values`` maps ``<project>:<key>`` (or bare ``<key>``) to its value.

    Raises ``ConfigError`` whose ``field`` is the full config key (``pyfaas:gateway.replicas``).
    """
    prefix = f"{project}:"
    data: dict[str, Any] = {}
    for key, value in values.items():
        if ":" in key and not key.startswith(prefix):
            continue  # another package's config (kubernetes:context, ...)
        data[key.removeprefix(prefix)] = _decode(value)
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        context = first.get("ctx") or {}
        keyed = context.get("error")
        if isinstance(keyed, _KeyedError):
            key = keyed.key
            message = str(keyed)
        else:
            key = ".".join(str(part) for part in first["loc"]) or "(root)"
            message = first["msg"].removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                message = "unknown key (see Pulumi.example.yaml for every setting)"
            elif (
                "input" in first
                and not isinstance(first["input"], dict)
                and not key.startswith("functionSecrets")
            ):
                message += f" (got {first['input']!r})"
        raise ConfigError(f"stack config {prefix}{key}: {message}", field=f"{prefix}{key}") from exc
