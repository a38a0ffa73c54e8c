"""The gateway's RBAC: exactly the API calls its in-process Kubernetes provider makes.

In every function namespace a Role + RoleBinding with :data:`PROVIDER_RULES`, plus a ClusterRole that reads
namespaces (``/system/namespaces`` lists namespaces labelled ``openfaas=1``). With
``gateway.manageNamespaces`` one ClusterRole carries everything instead: namespaces created through the API
have no Role yet.
``tests/infra`` derives the rules from the provider's source, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from pyfaas.infra import kube
from pyfaas.infra.config import PlatformConfig
from pyfaas.infra.workload import children

__all__ = ["CREDENTIALS_SECRET", "CREDENTIAL_RULES", "PROVIDER_RULES", "cluster_rules", "gateway_rbac"]

RBAC_GROUP = "rbac.authorization.k8s.io"
ROLE_NAME = "pyfaas-gateway"
SERVICE_ACCOUNT = "gateway"

PROVIDER_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["get", "list", "create", "patch", "delete"],
    },
    {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["create", "patch", "delete"]},
    {
        "apiGroups": [""],
        "resources": ["secrets"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
]
"""What the Kubernetes provider (``runtime/provider/kubernetes``) does in a function namespace; no more.
Writes are server-side applies: ``patch``, and ``create`` where an apply creates the object (Services).
Secrets are watched for the functions' replica keys (a label-selected watch; RBAC cannot narrow a watch by
label, and the gateway already lists and reads Secrets there for ``/system/secrets``)."""

CREDENTIALS_SECRET = "pyfaas-function-auth"
CREDENTIAL_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": [CREDENTIALS_SECRET],
        "verbs": ["get", "update"],
    },
]
"""The one thing the gateway may do in its own namespace: keep private functions' keys in one Secret that all
its replicas share (``runtime/provider/kubernetes/platform_secret.py``, docs/decisions/0142). ``create``
cannot be limited by name in RBAC; reading and changing can, so other Secrets there stay out of reach."""
CREDENTIAL_ROLE = f"{ROLE_NAME}-credentials"

NAMESPACE_READ = ["get", "list"]
NAMESPACE_MANAGE = ["get", "list", "create", "update", "delete"]


def cluster_rules(manage_namespaces: bool) -> list[dict[str, Any]]:
    """Namespaces are cluster-scoped: the provider reads them (``/system/namespaces``) and, when allowed,
    manages them. Managing namespaces also needs the function rules in namespaces that do not exist yet, so
    that mode grants :data:`PROVIDER_RULES` cluster-wide instead of per namespace (OpenFaaS's
    ``clusterRole: true``)."""
    namespaces = {
        "apiGroups": [""],
        "resources": ["namespaces"],
        "verbs": NAMESPACE_MANAGE if manage_namespaces else NAMESPACE_READ,
    }
    return [namespaces, *PROVIDER_RULES] if manage_namespaces else [namespaces]


def gateway_rbac(
    owner: pulumi.ComponentResource,
    name: str,
    config: PlatformConfig,
    *,
    account: pulumi.Resource,
    opts: pulumi.ResourceOptions | None,
) -> None:
    """Register the gateway service account's Roles, ClusterRole and bindings as children of ``owner``
    (waiting for what ``owner`` waits for: ``opts.depends_on``)."""
    ns = config.control_namespace
    labels = kube.labels("gateway", "gateway")
    subjects = [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ns}]
    for fn_ns in [] if config.gateway.manage_namespaces else config.function_namespaces:
        role = kube.resource(
            k8s.rbac.v1.Role,
            f"{name}-role-{fn_ns}",
            metadata={"name": ROLE_NAME, "namespace": fn_ns, "labels": labels},
            rules=PROVIDER_RULES,
            opts=children(owner, opts),
        )
        kube.resource(
            k8s.rbac.v1.RoleBinding,
            f"{name}-binding-{fn_ns}",
            metadata={"name": ROLE_NAME, "namespace": fn_ns, "labels": labels},
            role_ref={"apiGroup": RBAC_GROUP, "kind": "Role", "name": ROLE_NAME},
            subjects=subjects,
            opts=children(owner, opts, role, account),
        )
    credential_role = kube.resource(
        k8s.rbac.v1.Role,
        f"{name}-role-credentials",
        metadata={"name": CREDENTIAL_ROLE, "namespace": ns, "labels": labels},
        rules=CREDENTIAL_RULES,
        opts=children(owner, opts),
    )
    kube.resource(
        k8s.rbac.v1.RoleBinding,
        f"{name}-binding-credentials",
        metadata={"name": CREDENTIAL_ROLE, "namespace": ns, "labels": labels},
        role_ref={"apiGroup": RBAC_GROUP, "kind": "Role", "name": CREDENTIAL_ROLE},
        subjects=subjects,
        opts=children(owner, opts, credential_role, account),
    )
    cluster_role_name = f"{ROLE_NAME}-{ns}"  # cluster-scoped: unique per platform installation
    cluster_role = kube.resource(
        k8s.rbac.v1.ClusterRole,
        f"{name}-clusterrole",
        metadata={"name": cluster_role_name, "labels": labels},
        rules=cluster_rules(config.gateway.manage_namespaces),
        opts=children(owner, opts),
    )
    kube.resource(
        k8s.rbac.v1.ClusterRoleBinding,
        f"{name}-clusterbinding",
        metadata={"name": cluster_role_name, "labels": labels},
        role_ref={"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": cluster_role_name},
        subjects=subjects,
        opts=children(owner, opts, cluster_role, account),
    )
