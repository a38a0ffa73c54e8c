"""``Function``: one function's Deployment and Service, from the builders the Kubernetes provider uses.

``pyfaas.core.k8s`` renders the bodies; this component only registers them, so a function deployed by
``pulumi up`` and one deployed through ``POST /system/functions`` are the same objects (the provider's update
path adds only the ``uid`` rollout label), plus :data:`~pyfaas.core.k8s.PULUMI_OWNERSHIP_ANNOTATIONS` on the
objects' own metadata: pulumi-kubernetes applies them as the gateway's field manager, with force. A later API
update of the same function changes them; the next ``pulumi up`` that applies them puts Pulumi's version back
whole (fields only the API update set are removed too).

Its replica key Secret (``pyfaas.core.replica_key``) holds a ``random.RandomPassword``: made at the first
``pulumi up``, kept by later ones (a changed key would refuse the pods started with the old one until they
restart; docs/decisions/0151-kubernetes-replica-keys.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from pyfaas.core.k8s import (
    PULUMI_OWNERSHIP_ANNOTATIONS,
    FunctionWorkloadOptions,
    function_deployment,
    function_secret,
    function_service,
    replica_key_secret,
)
from pyfaas.core.models import FunctionDeployment, Secret
from pyfaas.core.replica_key import REPLICA_KEY_DATA
from pyfaas.infra import kube
from pyfaas.infra.workload import children

__all__ = ["Function", "FunctionArgs", "FunctionSecrets", "FunctionSecretsArgs"]


def _owned(metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        **metadata,
        "annotations": {**(metadata.get("annotations") or {}), **PULUMI_OWNERSHIP_ANNOTATIONS},
    }


@dataclass(frozen=True)
class FunctionArgs:
    spec: FunctionDeployment
    namespace: str
    """Used when the spec names no namespace."""
    options: FunctionWorkloadOptions


class Function(pulumi.ComponentResource):
    name: str
    namespace: str
    url: str
    """In-cluster URL of the function's Service (the gateway routes to its pods directly)."""

    def __init__(self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:Function", name, None, opts)
        spec = args.spec
        namespace = spec.namespace or args.namespace
        deployment = function_deployment(spec, namespace=namespace, options=args.options, replica_key=True)
        service = function_service(spec, namespace=namespace, options=args.options)
        child = children(self, opts)
        key = random.RandomPassword(
            f"{name}-replica-key", length=43, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        key_body = replica_key_secret(spec.service, namespace=namespace, key="")
        key_secret = kube.resource(
            k8s.core.v1.Secret,
            f"{name}-replica-key",
            metadata=_owned(key_body["metadata"]),
            type=key_body["type"],
            string_data={REPLICA_KEY_DATA: pulumi.Output.secret(key.result)},
            opts=child,
        )
        kube.resource(
            k8s.apps.v1.Deployment,
            f"{name}-deployment",
            metadata=_owned(deployment["metadata"]),
            spec=deployment["spec"],
            opts=children(self, opts, key_secret),
        )
        kube.resource(
            k8s.core.v1.Service,
            f"{name}-service",
            metadata=_owned(service["metadata"]),
            spec=service["spec"],
            opts=child,
        )
        self.name = spec.service
        self.namespace = namespace
        self.url = f"http://{spec.service}.{namespace}.svc:{args.options.watchdog_port}"
        self.register_outputs({"name": self.name, "namespace": self.namespace, "url": self.url})


@dataclass(frozen=True)
class FunctionSecretsArgs:
    namespace: str
    values: dict[str, str]
    """Secret name → value (plain text here; registered as a Pulumi secret)."""


class FunctionSecrets(pulumi.ComponentResource):
    """Secrets functions mount, shaped exactly as ``POST /system/secrets`` creates them."""

    resources: list[pulumi.Resource]

    def __init__(
        self, name: str, args: FunctionSecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pyfaas:index:FunctionSecrets", name, None, opts)
        self.resources = []
        for secret_name in sorted(args.values):
            body = function_secret(
                Secret(name=secret_name, value=args.values[secret_name]), namespace=args.namespace
            )
            self.resources.append(
                kube.resource(
                    k8s.core.v1.Secret,
                    f"{name}-{secret_name}",
                    metadata=_owned(body["metadata"]),
                    type=body["type"],
                    data=pulumi.Output.secret(body["data"]),
                    opts=children(self, opts),
                )
            )
        self.register_outputs({"names": sorted(args.values)})
