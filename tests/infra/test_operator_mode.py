"""Operator mode in the Pulumi program: the CRD, the operator and its RBAC, functions as Function objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyfaas.core.errors import ConfigError
from pyfaas.core.function_crd import function_crd, function_object
from pyfaas.infra.config import load_config
from pyfaas.infra.sources import load_functions
from tests.infra.conftest import THREE_FUNCTIONS_CONFIG, write_project
from tests.support.infra import Rendered, render

CRD_MODE = {**THREE_FUNCTIONS_CONFIG, "pyfaas:operator": {"enabled": True}, "pyfaas:functionsAs": "crd"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("operator-project"))


@pytest.fixture(scope="module")
def crd_mode(project: Path) -> Rendered:
    return render(CRD_MODE, root=project, env={"TAG": "3.1.0"})


def objects(rendered: Rendered, kind: str) -> list[dict[str, Any]]:
    return [o for o in rendered.objects() if o.get("kind") == kind]


def test_functions_become_function_objects_and_no_deployments(crd_mode: Rendered, project: Path) -> None:
    config = load_config(CRD_MODE)
    specs = [d.deployment for d in load_functions(config, project, {"TAG": "3.1.0"})]
    functions = objects(crd_mode, "Function")
    expected = [function_object(s, namespace=s.namespace or config.function_namespace) for s in specs]
    assert sorted((f["metadata"]["name"], f["spec"]["image"]) for f in functions) == sorted(
        (e["metadata"]["name"], e["spec"]["image"]) for e in expected
    )
    for found in functions:
        match = next(e for e in expected if e["metadata"] == found["metadata"])
        assert found["apiVersion"] == "openfaas.com/v1" and found["spec"] == match["spec"]
    deployments = [
        d for d in objects(crd_mode, "Deployment") if d["metadata"].get("labels", {}).get("faas_function")
    ]
    assert deployments == []  # the operator writes those
    assert sorted(crd_mode.outputs["functions"]) == [
        "api.openfaas-fn",
        "nightly.openfaas-fn",
        "reports.team-a",
    ]


def test_crd_operator_and_rbac_are_installed(crd_mode: Rendered) -> None:
    (crd,) = objects(crd_mode, "CustomResourceDefinition")
    assert crd["spec"] == function_crd()["spec"]
    (operator,) = [d for d in objects(crd_mode, "Deployment") if d["metadata"]["name"] == "pyfaas-operator"]
    assert operator["spec"]["replicas"] == 2
    container = operator["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["pyfaas-operator"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["operator_namespaces"] == "openfaas-fn,team-a"
    assert "POD_NAME" in env
    roles = {r["metadata"]["name"]: r for r in objects(crd_mode, "ClusterRole")}
    rules = roles["pyfaas-operator"]["rules"]
    assert {
        "apiGroups": ["openfaas.com"],
        "resources": ["functions/status"],
        "verbs": ["get", "patch", "update"],
    } in rules
    gateway_roles = [
        r for r in objects(crd_mode, "Role") if r["metadata"]["name"] == "pyfaas-gateway-functions"
    ]
    assert sorted(r["metadata"]["namespace"] for r in gateway_roles) == ["openfaas-fn", "team-a"]
    gateway = next(d for d in objects(crd_mode, "Deployment") if d["metadata"]["name"] == "gateway")
    gateway_env = {
        e["name"]: e.get("value") for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert gateway_env["operator"] == "true"


def test_default_mode_has_no_operator(project: Path) -> None:
    rendered = render(THREE_FUNCTIONS_CONFIG, root=project, env={"TAG": "3.1.0"})
    assert objects(rendered, "CustomResourceDefinition") == [] and objects(rendered, "Function") == []


def test_crd_mode_needs_the_operator() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"pyfaas:functionsAs": "crd"})
    assert raised.value.field == "pyfaas:functionsAs"


def test_managed_namespaces_make_the_operator_and_gateway_rights_cluster_wide(project: Path) -> None:
    config = {**CRD_MODE, "pyfaas:gateway": {"manageNamespaces": True}}
    rendered = render(config, root=project, env={"TAG": "3.1.0"})
    (operator,) = [d for d in objects(rendered, "Deployment") if d["metadata"]["name"] == "pyfaas-operator"]
    env = {e["name"]: e.get("value") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["operator_namespaces"] == ""
    assert [r for r in objects(rendered, "Role") if r["metadata"]["name"] == "pyfaas-gateway-functions"] == []
    cluster_roles = {r["metadata"]["name"] for r in objects(rendered, "ClusterRole")}
    assert "pyfaas-gateway-functions" in cluster_roles


def test_the_operator_pods_are_hardened_like_every_platform_pod(crd_mode: Rendered) -> None:
    """The platform's pod policy (tests/infra/test_policy.py), but for probes: kopf's ``/healthz`` is served
    by the Lease holder only, so a liveness probe would restart every standby replica (docs/operator.md)."""
    from tests.infra.test_policy import violations

    (operator,) = [d for d in objects(crd_mode, "Deployment") if d["metadata"]["name"] == "pyfaas-operator"]
    # the policy's API users are the default stack's; the operator is one too (its token is checked below)
    exempt = ("no readinessProbe", "no livenessProbe", "service-account token mounted without need")
    assert [v for v in violations(operator) if not v.endswith(exempt)] == []
    pod = operator["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True and pod["enableServiceLinks"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["containers"][0]["securityContext"]["runAsGroup"] == 10001
