"""``Namespaces``: the control-plane namespace and the function namespaces (contract §5.1 labels)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from pyfaas.core.k8s import function_namespace
from pyfaas.core.models import FunctionNamespace
from pyfaas.infra import kube

__all__ = ["Namespaces", "NamespacesArgs"]


@dataclass(frozen=True)
class NamespacesArgs:
    control: str
    functions: list[str]
    create: bool = True
    extra_labels: dict[str, str] = field(default_factory=dict)


class Namespaces(pulumi.ComponentResource):
    """Creates (or, with ``create=False``, only names) the namespaces; others depend on :attr:`ready`."""

    control: str
    functions: list[str]
    ready: list[pulumi.Resource]
    """Resources to depend on before placing objects in these namespaces (empty when not created here)."""

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:Namespaces", name, None, opts)
        self.control = args.control
        self.functions = list(args.functions)
        self.ready = []
        if args.create:
            child = pulumi.ResourceOptions(parent=self)
            control_labels = {"role": "openfaas-system", "access": "openfaas-system", **args.extra_labels}
            self.ready.append(
                kube.resource(
                    k8s.core.v1.Namespace,
                    f"{name}-{args.control}",
                    metadata={"name": args.control, "labels": control_labels},
                    opts=child,
                )
            )
            for namespace in self.functions:
                body = function_namespace(
                    FunctionNamespace(name=namespace, labels={"role": "openfaas-fn", **args.extra_labels})
                )
                self.ready.append(
                    kube.resource(
                        k8s.core.v1.Namespace, f"{name}-{namespace}", metadata=body["metadata"], opts=child
                    )
                )
        self.register_outputs({"control": self.control, "functions": self.functions})
