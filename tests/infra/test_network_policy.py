"""The functions' NetworkPolicy: in every function namespace, function pods admit the gateway's pods only."""

from __future__ import annotations

from typing import Any

from pyfaas.infra.network_policy import POLICY_NAME
from tests.support.infra import Rendered


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels, and matchExpressions with In/Exists) over ``labels``."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        if operator == "Exists" and key not in labels:
            return False
        if operator == "In" and labels.get(key) not in expression["values"]:
            return False
    return True


def test_function_pods_admit_only_the_gateway(three_functions: Rendered) -> None:
    gateway = three_functions.object("Deployment", "gateway", "openfaas")
    gateway_pods = gateway["spec"]["template"]["metadata"]["labels"]
    policy = three_functions.object("NetworkPolicy", POLICY_NAME, "openfaas-fn")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    ((peer,),) = [rule["from"] for rule in spec["ingress"]]  # one rule, one peer: nobody else gets in
    assert "ports" not in spec["ingress"][0]
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "openfaas"}}
    assert _matches(peer["podSelector"], gateway_pods)
    others = [
        body
        for body in three_functions.objects()
        if body["kind"] in ("Deployment", "StatefulSet") and body["metadata"]["name"] != "gateway"
    ]
    for body in others:  # NATS, Prometheus, the queue worker, ...: not the gateway's pods
        labels = body["spec"]["template"]["metadata"]["labels"]
        in_control = body["metadata"]["namespace"] == "openfaas"
        assert not (in_control and _matches(peer["podSelector"], labels)), body["metadata"]["name"]
    api = three_functions.object("Deployment", "api", "openfaas-fn")
    assert _matches(spec["podSelector"], api["spec"]["template"]["metadata"]["labels"])
