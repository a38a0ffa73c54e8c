"""``Function``: one function's Deployment and Service, from the builders the Kubernetes provider uses.

``runtime.core.k8s`` renders the bodies; this component only registers them, so a function deployed by
``pulumi up`` and one deployed through ``POST /system/functions`` are the same objects (the provider's update
path adds only the ``uid`` rollout label). Pulumi owns these objects: a later API deploy of the same name
changes them until the next ``pulumi up`` puts them back.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra import kube
from runtime.core.k8s import FunctionWorkloadOptions, function_deployment, function_service
from runtime.core.models import FunctionDeployment

__all__ = ["Function", "FunctionArgs"]


@dataclass(frozen=True)
class FunctionArgs:
    spec: FunctionDeployment
    namespace: str
    """Used when the spec names no namespace."""
    options: FunctionWorkloadOptions
    depends_on: list[pulumi.Resource]


class Function(pulumi.ComponentResource):
    name: str
    namespace: str
    url: str
    """In-cluster URL of the function's Service (the gateway routes to its pods directly)."""

    def __init__(self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:Function", name, None, opts)
        spec = args.spec
        namespace = spec.namespace or args.namespace
        deployment = function_deployment(spec, namespace=namespace, options=args.options)
        service = function_service(spec, namespace=namespace, options=args.options)
        child = pulumi.ResourceOptions(parent=self, depends_on=args.depends_on)
        kube.resource(
            k8s.apps.v1.Deployment,
            f"{name}-deployment",
            metadata=deployment["metadata"],
            spec=deployment["spec"],
            opts=child,
        )
        kube.resource(
            k8s.core.v1.Service,
            f"{name}-service",
            metadata=service["metadata"],
            spec=service["spec"],
            opts=child,
        )
        self.name = spec.service
        self.namespace = namespace
        self.url = f"http://{spec.service}.{namespace}.svc:{args.options.watchdog_port}"
        self.register_outputs({"name": self.name, "namespace": self.namespace, "url": self.url})
