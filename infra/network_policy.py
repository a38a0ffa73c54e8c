"""``function_network_policy``: in each function namespace, ingress to function pods from the gateway only.

Defence in depth beside the replica key (``pyfaas.core.replica_key``, docs/decisions/0151): where the network
plugin enforces NetworkPolicies, another pod cannot even connect to a function's pod. Only the gateway calls
function pods (the queue worker, the idler and Alertmanager go through the gateway; Prometheus scrapes the
gateway, not functions). The kubelet's probes come from the node, which plugins such as Calico and Cilium
allow whatever the policy says. The test cluster's bridge plugin enforces none: there the key does it all.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from pyfaas.core.labels import LABEL_FUNCTION
from pyfaas.infra import kube

__all__ = ["POLICY_NAME", "function_network_policy", "policy_spec"]

POLICY_NAME = "pyfaas-functions-from-gateway"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace (1.21+): selects the control namespace by its name."""


def policy_spec(control_namespace: str) -> dict[str, Any]:
    """Function pods (label ``faas_function``) take ingress only from the gateway's pods."""
    return {
        "podSelector": {"matchExpressions": [{"key": LABEL_FUNCTION, "operator": "Exists"}]},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: control_namespace}},
                        "podSelector": {"matchLabels": kube.selector("gateway")},
                    }
                ]
            }
        ],
    }


def function_network_policy(
    name: str, *, namespace: str, control_namespace: str, opts: pulumi.ResourceOptions
) -> pulumi.Resource:
    return kube.resource(
        k8s.networking.v1.NetworkPolicy,
        name,
        metadata={"name": POLICY_NAME, "namespace": namespace, "labels": kube.labels("gateway", "gateway")},
        spec=policy_spec(control_namespace),
        opts=opts,
    )
