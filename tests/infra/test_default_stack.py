"""The default stack (empty config): what the platform consists of and how its parts fit together."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from pyfaas.infra.config import DEFAULT_IMAGES
from tests.support.infra import MOCK_PASSWORD, ROOT, Rendered, is_secret_value, render

WORKLOADS = {"Deployment", "StatefulSet"}


def _containers(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(body["spec"]["template"]["spec"]["containers"])


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


def test_platform_objects(default_stack: Rendered) -> None:
    kinds = Counter(
        (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in default_stack.objects()
    )
    assert all(count == 1 for count in kinds.values()), kinds
    names = {(kind, name) for kind, name, _ns in kinds}
    assert {
        ("Namespace", "openfaas"),
        ("Namespace", "openfaas-fn"),
        ("Deployment", "gateway"),
        ("Service", "gateway"),
        ("ServiceAccount", "gateway"),
        ("Secret", "basic-auth"),
        ("PodDisruptionBudget", "gateway"),
        ("StatefulSet", "nats"),
        ("Service", "nats"),
        ("Service", "nats-headless"),
        ("ConfigMap", "nats-config"),
        ("Deployment", "prometheus"),
        ("ConfigMap", "prometheus-config"),
        ("Service", "prometheus"),
        ("Deployment", "alertmanager"),
        ("ConfigMap", "alertmanager-config"),
        ("Service", "alertmanager"),
        ("Deployment", "queue-worker"),
        ("Deployment", "idler"),
    } <= names
    assert ("Service", "gateway-external") not in names, "ClusterIP by default: nothing exposed"
    assert not [o for o in default_stack.objects() if o["metadata"].get("labels", {}).get("faas_function")]


def test_namespaces_carry_openfaas_labels(default_stack: Rendered) -> None:
    control = default_stack.object("Namespace", "openfaas")["metadata"]["labels"]
    functions = default_stack.object("Namespace", "openfaas-fn")["metadata"]["labels"]
    assert control["role"] == "openfaas-system" and control["access"] == "openfaas-system"
    assert functions["role"] == "openfaas-fn" and functions["openfaas"] == "1"


def test_every_selector_matches_its_pod_labels(all_stacks: dict[str, Rendered]) -> None:
    for rendered in all_stacks.values():
        objects = rendered.objects()
        pods = {
            (o["metadata"]["namespace"], o["metadata"]["name"]): o["spec"]["template"]["metadata"]["labels"]
            for o in objects
            if o["kind"] in WORKLOADS
        }
        for o in objects:
            if o["kind"] in WORKLOADS:
                wanted = o["spec"]["selector"]["matchLabels"]
                assert wanted.items() <= o["spec"]["template"]["metadata"]["labels"].items(), o["metadata"][
                    "name"
                ]
            if o["kind"] in {"Service", "PodDisruptionBudget"}:
                selector = o["spec"]["selector"]
                selector = (
                    selector.get("matchLabels", selector) if o["kind"] == "PodDisruptionBudget" else selector
                )
                matched = [
                    name
                    for (ns, name), labels in pods.items()
                    if ns == o["metadata"]["namespace"] and selector.items() <= labels.items()
                ]
                assert len(matched) == 1, f"{o['kind']} {o['metadata']['name']} selects {matched}"


def test_service_ports_target_named_container_ports(all_stacks: dict[str, Rendered]) -> None:
    for rendered in all_stacks.values():
        objects = rendered.objects()
        for service in (o for o in objects if o["kind"] == "Service"):
            ns = service["metadata"]["namespace"]
            selector = service["spec"]["selector"]
            (workload,) = [
                o
                for o in objects
                if o["kind"] in WORKLOADS
                and o["metadata"]["namespace"] == ns
                and selector.items() <= o["spec"]["template"]["metadata"]["labels"].items()
            ]
            ports = {
                (p.get("name"), p["containerPort"]) for c in _containers(workload) for p in c.get("ports", [])
            }
            for port in service["spec"]["ports"]:
                target = port["targetPort"]
                assert any(target in (name, number) for name, number in ports), (
                    service["metadata"]["name"],
                    port,
                )


def test_gateway_runs_the_kubernetes_provider(default_stack: Rendered) -> None:
    deployment = default_stack.object("Deployment", "gateway", "openfaas")
    assert deployment["spec"]["replicas"] == 1
    (container,) = _containers(deployment)
    assert container["image"] == DEFAULT_IMAGES["platform"]
    assert container["command"] == ["pyfaas-gateway"]
    env = _env(container)
    assert env["provider"] == "kubernetes"
    assert env["function_namespace"] == "openfaas-fn"
    assert env["basic_auth"] == "true"
    assert env["nats_url"] == "nats://nats.openfaas.svc:4222"
    assert env["faas_prometheus_host"] == "prometheus.openfaas.svc"
    # One environment, two settings: the gateway's basic-auth folder and where function pods get secrets.
    assert env["secret_mount_path"] == "/var/secrets"
    assert env["function_secrets_mount_path"] == "/var/openfaas/secrets"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/var/secrets"]["readOnly"] is True
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8080, "metrics": 8082}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http", "scheme": "HTTP"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"prometheus.io/scrape": "true", "prometheus.io/port": "8082"}
    assert pod["spec"]["serviceAccountName"] == "gateway"
    assert pod["spec"]["automountServiceAccountToken"] is True
    service = default_stack.object("Service", "gateway", "openfaas")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"http": 8080, "metrics": 8082}
    assert service["spec"]["type"] == "ClusterIP"


_KINDS = {
    "Deployment": ("apps", "deployments"),
    "scale": ("apps", "deployments/scale"),
    "Service": ("", "services"),
    "SecretObject": ("", "secrets"),
    "Secret": ("", "secrets"),
    "Pod": ("", "pods"),
    "pod": ("", "pods/log"),
    "EndpointSlice": ("discovery.k8s.io", "endpointslices"),
    "Namespace": ("", "namespaces"),
}
_VERBS = {"replace": "update", "log": "get", "apply": "patch"}
_GENERIC_WRITES = {
    r"_apply\(\s*(\w+)": {"patch", "create"},
    r"adopt_created\(\s*self\.client,\s*(\w+)": {"patch"},
    r"delete_if_present\(\s*self\.client,\s*(\w+)": {"delete"},
}
"""Helpers called with the kind they write: a server-side apply is a ``patch`` that may create the object (the
API server then also checks ``create``); taking ownership is a JSON ``patch``; delete_if_present deletes."""


def _provider_modules() -> list[Path]:
    """``provider.py`` and the package modules it imports, transitively: the gateway's provider, nothing else
    that may live in the package (another mode's calls are its own service account's business)."""
    package = ROOT / "runtime/provider/kubernetes"
    seen: list[Path] = []
    pending = [package / "provider.py"]
    while pending:
        module = pending.pop()
        if module in seen or not module.is_file():
            continue
        seen.append(module)
        for name in re.findall(r"from pyfaas\.provider\.kubernetes\.(\w+) import", module.read_text()):
            pending.append(package / f"{name}.py")
    return sorted(seen)


def provider_api_calls() -> dict[tuple[str, str], set[str]]:
    """(group, resource) → verbs, read from the Kubernetes provider's own calls (``client.<verb>(<Kind>``)."""
    source = "".join(p.read_text() for p in _provider_modules())
    calls: dict[tuple[str, str], set[str]] = {}
    for verb, kind in re.findall(r"client\.(\w+)\(\s*(?:_object\(\s*)?(\w+)", source):
        if verb == "close" or kind in ("kind", "self"):  # generic helpers, resolved at their call sites
            continue
        assert kind in _KINDS, f"the provider calls {verb} on {kind}: map it to an RBAC resource"
        calls.setdefault(_KINDS[kind], set()).add(_VERBS.get(verb, verb))
    for kind in re.findall(r"^    kind = (\w+)$", source, flags=re.MULTILINE):
        assert kind in _KINDS, f"the provider watches {kind}: map it to an RBAC resource"
        calls.setdefault(_KINDS[kind], set()).update({"list", "watch"})  # watch.py's list-then-watch loop
    for pattern, verbs in _GENERIC_WRITES.items():
        for kind in re.findall(pattern, source):
            if kind in ("self", "kind"):
                continue
            assert kind in _KINDS, f"the provider writes {kind}: map it to an RBAC resource"
            calls.setdefault(_KINDS[kind], set()).update(verbs)
    return calls


def _granted(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_gateway_rbac_grants_exactly_what_the_provider_calls(default_stack: Rendered) -> None:
    calls = provider_api_calls()
    namespace_calls = calls.pop(("", "namespaces"))
    assert calls, "no API calls found in the provider: the scan is broken"
    role = default_stack.object("Role", "pyfaas-gateway", "openfaas-fn")
    assert _granted(role["rules"]) == calls
    assert all("*" not in rule["verbs"] and "*" not in rule["resources"] for rule in role["rules"])
    binding = default_stack.object("RoleBinding", "pyfaas-gateway", "openfaas-fn")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "pyfaas-gateway",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gateway", "namespace": "openfaas"}]
    # Cluster-wide, only reading namespaces (managing them is opt-in, see below).
    cluster_role = default_stack.object("ClusterRole", "pyfaas-gateway-openfaas")
    assert _granted(cluster_role["rules"]) == {("", "namespaces"): {"get", "list"}}
    assert {"get", "list"} <= namespace_calls
    # In the control namespace only the credentials Secret: the gateway cannot touch the rest of its platform.
    gateway_roles = [
        o for o in default_stack.objects() if o["kind"] == "Role" and "gateway" in o["metadata"]["name"]
    ]
    assert {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in gateway_roles} == {
        ("openfaas-fn", "pyfaas-gateway"),
        ("openfaas", "pyfaas-gateway-credentials"),
    }


def test_the_gateway_keeps_only_its_credentials_secret_in_its_own_namespace(default_stack: Rendered) -> None:
    role = default_stack.object("Role", "pyfaas-gateway-credentials", "openfaas")
    source = (ROOT / "runtime/provider/kubernetes/platform_secret.py").read_text()
    called = {_VERBS.get(verb, verb) for verb in re.findall(r"client(?:\(\))?\.(\w+)\(", source)}
    assert called == {"get", "create", "update"}
    # create cannot be limited by name; reading and changing are limited to the one Secret
    by_name = [rule for rule in role["rules"] if rule.get("resourceNames")]
    assert by_name == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["pyfaas-function-auth"],
            "verbs": ["get", "update"],
        }
    ]
    assert _granted(role["rules"]) == {("", "secrets"): called}
    binding = default_stack.object("RoleBinding", "pyfaas-gateway-credentials", "openfaas")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gateway", "namespace": "openfaas"}]
    (gateway,) = _containers(default_stack.object("Deployment", "gateway"))
    assert _env(gateway)["gateway_namespace"] == "openfaas"


def test_managing_namespaces_moves_the_rules_cluster_wide() -> None:
    rendered = render({"pyfaas:gateway": {"manageNamespaces": True}})
    calls = provider_api_calls()
    cluster_role = rendered.object("ClusterRole", "pyfaas-gateway-openfaas")
    assert _granted(cluster_role["rules"]) == calls
    assert not [
        o for o in rendered.objects() if o["kind"] == "Role" and o["metadata"]["name"] == "pyfaas-gateway"
    ]
    binding = rendered.object("ClusterRoleBinding", "pyfaas-gateway-openfaas")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gateway", "namespace": "openfaas"}]


def test_basic_auth_secret_is_generated_and_secret(default_stack: Rendered) -> None:
    (captured,) = [r for r in default_stack.of_type("kubernetes:core/v1:Secret")]
    assert is_secret_value(captured.inputs["stringData"]), "the password must reach Pulumi as a secret"
    secret = default_stack.object("Secret", "basic-auth", "openfaas")
    assert secret["stringData"] == {"basic-auth-user": "admin", "basic-auth-password": MOCK_PASSWORD}
    (password,) = default_stack.of_type("random:index/randomPassword:RandomPassword")
    assert password.inputs["length"] >= 24 and password.inputs["special"] is False


def test_outputs(default_stack: Rendered) -> None:
    assert default_stack.outputs == {
        "gatewayUrl": "http://gateway.openfaas.svc:8080",
        "adminUser": "admin",
        "adminPassword": MOCK_PASSWORD,
        "functions": [],
    }
    assert "adminPassword" in default_stack.secret_outputs


def test_configured_password_replaces_the_generated_one(full_options: Rendered) -> None:
    assert not full_options.of_type("random:index/randomPassword:RandomPassword")
    assert full_options.outputs["adminPassword"] == "configured-secret"
    assert "adminPassword" in full_options.secret_outputs


def test_gateway_pdb_never_blocks_a_drain_with_one_replica(
    default_stack: Rendered, full_options: Rendered
) -> None:
    single = default_stack.object("PodDisruptionBudget", "gateway")["spec"]
    assert single.get("maxUnavailable") == 1 and "minAvailable" not in single
    double = full_options.object("PodDisruptionBudget", "gateway")["spec"]
    assert double.get("minAvailable") == 1
    assert full_options.object("Deployment", "gateway")["spec"]["replicas"] == 2
    external = full_options.object("Service", "gateway-external")["spec"]
    assert external["type"] == "NodePort" and external["ports"][0]["nodePort"] == 31112


def test_nats_single_node_jetstream_on_a_volume(default_stack: Rendered) -> None:
    nats = default_stack.object("StatefulSet", "nats", "openfaas")
    spec = nats["spec"]
    assert spec["replicas"] == 1 and spec["serviceName"] == "nats-headless"
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data-2gi"  # named after the size: a new size gets new volumes
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    (container,) = _containers(nats)
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/data", "/etc/nats"}
    conf = default_stack.object("ConfigMap", "nats-config")["data"]["nats.conf"]
    assert "jetstream {" in conf and "store_dir: /data/jetstream" in conf and "cluster {" not in conf
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz?js-enabled-only=true"
    assert default_stack.object("Service", "nats")["spec"]["ports"] == [
        {"name": "client", "port": 4222, "targetPort": "client", "protocol": "TCP"}
    ]


def test_nats_three_node_cluster(full_options: Rendered) -> None:
    spec = full_options.object("StatefulSet", "nats")["spec"]
    assert spec["replicas"] == 3
    assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    conf = full_options.object("ConfigMap", "nats-config")["data"]["nats.conf"]
    assert "cluster {" in conf
    for i in range(3):
        assert f"nats://nats-{i}.nats-headless.openfaas.svc.cluster.local:6222" in conf
    assert full_options.object("PodDisruptionBudget", "nats")["spec"]["maxUnavailable"] == 1
    assert full_options.object("Service", "nats-headless")["spec"]["clusterIP"] == "None"


def test_worker_and_idler_wiring(default_stack: Rendered) -> None:
    (worker,) = _containers(default_stack.object("Deployment", "queue-worker"))
    assert worker["command"] == ["pyfaas-worker"]
    assert _env(worker)["nats_url"] == "nats://nats.openfaas.svc:4222"
    assert _env(worker)["gateway_url"] == "http://gateway.openfaas.svc:8080"
    assert "ack_wait" not in _env(worker)  # unset: each function's is derived from its declared timeout
    (idler_container,) = _containers(default_stack.object("Deployment", "idler"))
    idler_env = _env(idler_container)
    assert idler_container["command"] == ["pyfaas-idler"]
    assert idler_env["prometheus_host"] == "prometheus.openfaas.svc"
    assert idler_env["secret_mount_path"] == "/var/secrets"
    idler_pod = default_stack.object("Deployment", "idler")["spec"]["template"]["spec"]
    assert {"name": "auth", "secret": {"secretName": "basic-auth"}} in idler_pod["volumes"]
    assert idler_pod["automountServiceAccountToken"] is False


def test_an_explicit_worker_ack_wait_reaches_the_worker(full_options: Rendered) -> None:
    (worker,) = _containers(full_options.object("Deployment", "queue-worker"))
    assert _env(worker)["ack_wait"] == "90s"


def test_prometheus_discovers_pods_with_a_namespaced_role(default_stack: Rendered) -> None:
    role = default_stack.object("Role", "pyfaas-prometheus", "openfaas")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    binding = default_stack.object("RoleBinding", "pyfaas-prometheus", "openfaas")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "openfaas"}]
    pod = default_stack.object("Deployment", "prometheus")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "prometheus"
    assert not [
        o
        for o in default_stack.objects()
        if o["kind"] in {"ClusterRole", "ClusterRoleBinding"} and "prometheus" in o["metadata"]["name"]
    ]


def test_images_are_pinned(all_stacks: dict[str, Rendered]) -> None:
    for rendered in all_stacks.values():
        for o in rendered.objects():
            if o["kind"] in WORKLOADS:
                for container in _containers(o):
                    image = container["image"]
                    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


def test_existing_namespaces_are_referenced_not_created() -> None:
    rendered = render(
        {
            "pyfaas:createNamespaces": False,
            "pyfaas:prometheus": {"enabled": False},
            "pyfaas:alertmanager": {"enabled": False},
        }
    )
    kinds = {o["kind"] for o in rendered.objects()}
    assert "Namespace" not in kinds
    rendered.object("Role", "pyfaas-gateway", "openfaas-fn")
    assert not [o for o in rendered.objects() if o["metadata"]["name"] in {"prometheus", "alertmanager"}]
    (idler,) = _containers(rendered.object("Deployment", "idler"))
    assert _env(idler)["prometheus_host"] == "", "without Prometheus the idler reads the gateway's metrics"
    (gateway,) = _containers(rendered.object("Deployment", "gateway"))
    assert "faas_prometheus_host" not in _env(gateway)
