"""Operator mode in the Pulumi program (``pyfaas:operator.enabled``, ``pyfaas:functionsAs: crd``).

* :class:`FunctionCRD`: the ``functions.openfaas.com`` CustomResourceDefinition, the body
  :func:`pyfaas.core.function_crd.function_crd` builds (the one the operator's tests install).
* :class:`Operator`: ``pyfaas-operator`` (the platform image's command) as a Deployment of ``replicas`` pods
  with Lease leader election, its ServiceAccount and RBAC (:func:`operator_rules`), and the gateway's right to
  write Function objects in every function namespace (:data:`GATEWAY_FUNCTION_RULES`). Its environment is the
  gateway provider's (:func:`pyfaas.infra.gateway.provider_environment`): both build the same pods.
* :class:`FunctionObject`: one function as a ``Function`` object, the body
  :func:`pyfaas.core.function_crd.function_object` builds (what ``pyfaas generate`` prints and the gateway
  writes in operator mode); the operator turns it into the Deployment and Service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from pyfaas.core.function_crd import GROUP, function_crd, function_object
from pyfaas.core.models import FunctionDeployment
from pyfaas.infra import kube
from pyfaas.infra.config import PlatformConfig

__all__ = [
    "GATEWAY_FUNCTION_RULES",
    "FunctionCRD",
    "FunctionObject",
    "FunctionObjectArgs",
    "Operator",
    "OperatorArgs",
    "operator_mode",
    "operator_rules",
]

ACCOUNT = "pyfaas-operator"
GATEWAY_ACCOUNT = "gateway"
LEASE = "pyfaas-operator"
RUN_AS = 10001
"""The platform image's service user (``pyfaas.build.platform.SERVICE_UID``)."""
RBAC_GROUP = "rbac.authorization.k8s.io"

GATEWAY_FUNCTION_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [GROUP],
        "resources": ["functions"],
        "verbs": ["get", "list", "create", "update", "delete"],
    },
    {"apiGroups": [GROUP], "resources": ["functions/scale"], "verbs": ["update"]},
]
"""What the gateway's OperatorProvider (``provider/kubernetes/operator_mode.py``) does with Functions."""


def operator_rules() -> list[dict[str, Any]]:
    """What ``pyfaas-operator`` does, cluster-wide (it reconciles every function namespace)."""
    return [
        {"apiGroups": [GROUP], "resources": ["functions"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": [GROUP], "resources": ["functions/status"], "verbs": ["get", "patch", "update"]},
        # ownerReferences with blockOwnerDeletion need update on the owner's finalizers subresource
        {"apiGroups": [GROUP], "resources": ["functions/finalizers"], "verbs": ["update"]},
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "verbs": ["get", "list", "watch", "create", "patch"],
        },
        {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch", "create", "patch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
        # get: a function's secrets exist; create: its replica key Secret (never rewritten, so no patch)
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "create"]},
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
    ]


LEASE_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
]


class FunctionCRD(pulumi.ComponentResource):
    crd: pulumi.Resource

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:FunctionCRD", name, None, opts)
        body = function_crd()
        self.crd = kube.resource(
            k8s.apiextensions.v1.CustomResourceDefinition,
            f"{name}-crd",
            metadata=body["metadata"],
            spec=body["spec"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": body["metadata"]["name"]})


@dataclass(frozen=True)
class OperatorArgs:
    config: PlatformConfig
    environment: dict[str, str]
    """The gateway provider's function settings (``provider_environment``): the same pod shape."""


class Operator(pulumi.ComponentResource):
    def __init__(self, name: str, args: OperatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:Operator", name, None, opts)
        config = args.config
        ns = config.control_namespace
        child = pulumi.ResourceOptions(parent=self, depends_on=list((opts and opts.depends_on) or []))  # type: ignore[arg-type]
        labels = kube.labels("operator", "operator")
        account = kube.resource(
            k8s.core.v1.ServiceAccount,
            f"{name}-account",
            metadata={"name": ACCOUNT, "namespace": ns, "labels": labels},
            opts=child,
        )
        role = kube.resource(
            k8s.rbac.v1.ClusterRole,
            f"{name}-clusterrole",
            metadata={"name": ACCOUNT, "labels": labels},
            rules=operator_rules(),
            opts=child,
        )
        subjects = [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": ns}]
        kube.resource(
            k8s.rbac.v1.ClusterRoleBinding,
            f"{name}-clusterrolebinding",
            metadata={"name": ACCOUNT, "labels": labels},
            role_ref={"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": ACCOUNT},
            subjects=subjects,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account]),
        )
        lease_role = kube.resource(
            k8s.rbac.v1.Role,
            f"{name}-lease-role",
            metadata={"name": f"{ACCOUNT}-lease", "namespace": ns, "labels": labels},
            rules=LEASE_RULES,
            opts=child,
        )
        kube.resource(
            k8s.rbac.v1.RoleBinding,
            f"{name}-lease-rolebinding",
            metadata={"name": f"{ACCOUNT}-lease", "namespace": ns, "labels": labels},
            role_ref={"apiGroup": RBAC_GROUP, "kind": "Role", "name": f"{ACCOUNT}-lease"},
            subjects=subjects,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[lease_role, account]),
        )
        gateway = [{"kind": "ServiceAccount", "name": GATEWAY_ACCOUNT, "namespace": ns}]
        manage = config.gateway.manage_namespaces
        if manage:  # namespaces created through the API later: cluster-wide, as the gateway's own rules are
            gateway_cluster_role = kube.resource(
                k8s.rbac.v1.ClusterRole,
                f"{name}-gateway-functions",
                metadata={"name": "pyfaas-gateway-functions", "labels": labels},
                rules=GATEWAY_FUNCTION_RULES,
                opts=child,
            )
            kube.resource(
                k8s.rbac.v1.ClusterRoleBinding,
                f"{name}-gateway-functions-binding",
                metadata={"name": "pyfaas-gateway-functions", "labels": labels},
                role_ref={"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "pyfaas-gateway-functions"},
                subjects=gateway,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway_cluster_role]),
            )
        for fn_ns in [] if manage else config.function_namespaces:
            gateway_role = kube.resource(
                k8s.rbac.v1.Role,
                f"{name}-gateway-functions-{fn_ns}",
                metadata={"name": "pyfaas-gateway-functions", "namespace": fn_ns, "labels": labels},
                rules=GATEWAY_FUNCTION_RULES,
                opts=child,
            )
            kube.resource(
                k8s.rbac.v1.RoleBinding,
                f"{name}-gateway-functions-binding-{fn_ns}",
                metadata={"name": "pyfaas-gateway-functions", "namespace": fn_ns, "labels": labels},
                role_ref={"apiGroup": RBAC_GROUP, "kind": "Role", "name": "pyfaas-gateway-functions"},
                subjects=gateway,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway_role]),
            )
        env = {
            **args.environment,
            # every namespace when the gateway creates namespaces (they appear after the operator starts)
            "operator_namespaces": "" if manage else ",".join(config.function_namespaces),
            "lease_name": LEASE,
            "lease_namespace": ns,
        }
        env_list: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(env.items())]
        env_list.append({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
        selector = kube.selector("operator")
        # No probes: kopf's /healthz is served by the Lease holder only (docs/operator.md)
        container = {
            "name": "operator",
            "image": config.image,
            "imagePullPolicy": config.image_pull_policy,
            "command": ["pyfaas-operator"],
            "env": env_list,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS,
                "runAsGroup": RUN_AS,
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        }
        kube.resource(
            k8s.apps.v1.Deployment,
            f"{name}-deployment",
            metadata={"name": "pyfaas-operator", "namespace": ns, "labels": labels},
            spec={
                "replicas": config.operator.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": kube.pod_spec([container], service_account=ACCOUNT),
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        self.register_outputs({"namespace": ns})


@dataclass(frozen=True)
class FunctionObjectArgs:
    spec: FunctionDeployment
    namespace: str
    """Used when the spec names no namespace."""
    crd: pulumi.Resource | None
    """The CRD this stack installs (waited for); None when it is installed elsewhere."""


class FunctionObject(pulumi.ComponentResource):
    name: str
    namespace: str

    def __init__(
        self, name: str, args: FunctionObjectArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pyfaas:index:FunctionObject", name, None, opts)
        spec = args.spec
        namespace = spec.namespace or args.namespace
        body = function_object(spec, namespace=namespace)
        depends: list[pulumi.Resource] = list((opts and opts.depends_on) or [])  # type: ignore[arg-type]
        if args.crd is not None:
            depends.append(args.crd)
        k8s.apiextensions.CustomResource(
            f"{name}-function",
            api_version=body["apiVersion"],
            kind=body["kind"],
            metadata=body["metadata"],
            spec=body["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        self.name = spec.service
        self.namespace = namespace
        self.register_outputs({"name": self.name, "namespace": self.namespace})


def operator_mode(
    platform: pulumi.ComponentResource, config: PlatformConfig, functions: list[FunctionDeployment]
) -> list[str]:
    """The CRD, the operator and ``functions`` as Function objects, after the platform; their names."""
    from pyfaas.infra.gateway import provider_environment

    after = pulumi.ResourceOptions(depends_on=[platform])  # namespaces and gateway account first
    crd = FunctionCRD("pyfaas-function-crd", opts=after)
    Operator(
        "pyfaas-operator",
        OperatorArgs(config=config, environment=provider_environment(config)),
        opts=pulumi.ResourceOptions(depends_on=[platform, crd]),
    )
    names = []
    for spec in functions:
        target = spec.namespace or config.function_namespace
        FunctionObject(
            f"pyfaas-fnobj-{target}-{spec.service}",
            FunctionObjectArgs(spec=spec, namespace=config.function_namespace, crd=crd.crd),
            opts=after,
        )
        names.append(f"{spec.service}.{target}")
    return names
