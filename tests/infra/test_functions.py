"""A stack with three functions (two from functions.py, one from stack.yml), deployed by the program.

The Function component must register exactly the bodies the Kubernetes provider would send for the same
FunctionDeployment: both come from ``pyfaas.core.k8s``.
"""

from __future__ import annotations

from typing import Any

import pytest

from pyfaas.core.errors import ConfigError
from pyfaas.core.k8s import (
    PULUMI_OWNERSHIP_ANNOTATIONS,
    function_deployment,
    function_secret,
    function_service,
)
from pyfaas.core.models import FunctionDeployment, Secret
from pyfaas.core.replica_key import REPLICA_KEY_DATA, REPLICA_KEY_LABEL, replica_key_secret_name
from pyfaas.core.stack import parse_stack
from pyfaas.infra.config import PlatformConfig, load_config
from pyfaas.infra.pyfaas_platform import workload_options
from pyfaas.infra.sources import load_functions
from tests.infra.conftest import THREE_FUNCTIONS_CONFIG, write_project
from tests.support.infra import ROOT, Rendered, is_secret_value, render

Specs = tuple[list[FunctionDeployment], PlatformConfig]


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> Specs:
    root = write_project(tmp_path_factory.mktemp("specs"))
    config = load_config(
        THREE_FUNCTIONS_CONFIG
    )  # load_config takes structured values as Pulumi's JSON or as is
    return [d.deployment for d in load_functions(config, root, {"TAG": "3.1.0"})], config


def test_three_functions_are_deployed(three_functions: Rendered) -> None:
    functions = [o for o in three_functions.objects() if o["metadata"].get("labels", {}).get("faas_function")]
    assert sorted((o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in functions) == [
        ("Deployment", "openfaas-fn", "api"),
        ("Deployment", "openfaas-fn", "nightly"),
        ("Deployment", "team-a", "reports"),
        ("Service", "openfaas-fn", "api"),
        ("Service", "openfaas-fn", "nightly"),
        ("Service", "team-a", "reports"),
    ]
    assert three_functions.outputs["functions"] == [
        "api.openfaas-fn",
        "reports.team-a",
        "nightly.openfaas-fn",
    ]


def owned(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the annotations that make pulumi-kubernetes apply it as the gateway does (with force)."""
    annotations = {**body["metadata"].get("annotations", {}), **PULUMI_OWNERSHIP_ANNOTATIONS}
    return {**body, "metadata": {**body["metadata"], "annotations": annotations}}


def test_bodies_equal_what_the_kubernetes_provider_sends(three_functions: Rendered, specs: Specs) -> None:
    deployments, config = specs
    options = workload_options(config)
    for spec in deployments:
        namespace = spec.namespace or "openfaas-fn"
        assert three_functions.object("Deployment", spec.service, namespace) == owned(
            function_deployment(spec, namespace=namespace, options=options, replica_key=True)
        )
        key_secret = three_functions.object("Secret", replica_key_secret_name(spec.service), namespace)
        assert key_secret["metadata"]["labels"] == {REPLICA_KEY_LABEL: spec.service}
        assert set(key_secret["stringData"]) == {REPLICA_KEY_DATA}
        assert three_functions.object("Service", spec.service, namespace) == owned(
            function_service(spec, namespace=namespace, options=options)
        )


def test_function_details(three_functions: Rendered) -> None:
    api = three_functions.object("Deployment", "api", "openfaas-fn")
    assert api["spec"]["replicas"] == 2
    assert api["spec"]["selector"]["matchLabels"] == {"faas_function": "api"}
    pod = api["spec"]["template"]
    assert pod["metadata"]["labels"]["faas_function"] == "api"
    assert pod["metadata"]["labels"]["com.openfaas.scale.max"] == "8"
    (container,) = pod["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/_/health"
    assert container["resources"] == {
        "limits": {"memory": "128Mi", "cpu": "250m"},
        "requests": {"memory": "32Mi", "cpu": "20m"},
    }
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["runAsNonRoot"] is True
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/var/openfaas/secrets"]["readOnly"] is True and "/tmp" in mounts
    service = three_functions.object("Service", "api", "openfaas-fn")
    assert service["spec"]["selector"] == {"faas_function": "api"}
    assert service["spec"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080, "targetPort": 8080}]

    nightly = three_functions.object("Deployment", "nightly", "openfaas-fn")
    assert nightly["spec"]["replicas"] == 0, "scale.min=0 with scale.zero=true starts at zero"
    (nightly_container,) = nightly["spec"]["template"]["spec"]["containers"]
    assert nightly_container["image"] == "ghcr.io/acme/nightly:3.1.0", "${TAG} substituted"
    assert {"name": "region", "value": "eu-west"} in nightly_container["env"]
    # Defaults of the stack config apply when a function gives no resources.
    assert nightly_container["resources"] == {
        "limits": {"memory": "256Mi"},
        "requests": {"memory": "64Mi", "cpu": "50m"},
    }

    reports = three_functions.object("Deployment", "reports", "team-a")
    (reports_container,) = reports["spec"]["template"]["spec"]["containers"]
    assert {"name": "fprocess", "value": "python3 r.py"} in reports_container["env"]


def test_extra_function_namespace_gets_rbac_and_labels(three_functions: Rendered) -> None:
    assert three_functions.object("Namespace", "team-a")["metadata"]["labels"]["openfaas"] == "1"
    three_functions.object("Role", "pyfaas-gateway", "team-a")
    three_functions.object("RoleBinding", "pyfaas-gateway", "team-a")


def test_examples_stack_deploys() -> None:
    rendered = render({"pyfaas:stackFile": "examples/stack.yml"}, root=ROOT)
    deployed = {
        f"{o['metadata']['name']}.{o['metadata']['namespace']}"
        for o in rendered.objects()
        if o["kind"] == "Deployment" and "faas_function" in o["metadata"]["labels"]
    }
    expected = parse_stack((ROOT / "examples" / "stack.yml").read_text(), env={}).functions
    assert expected and deployed == {f"{f.name}.{f.deployment.namespace or 'openfaas-fn'}" for f in expected}


def test_function_secrets_are_created_as_the_secret_api_would(three_functions: Rendered) -> None:
    assert three_functions.object("Secret", "api-key", "openfaas-fn") == owned(
        function_secret(Secret(name="api-key", value="s3cr3t-value"), namespace="openfaas-fn")
    )
    assert three_functions.object("Secret", "reports-token", "team-a")["data"] == {
        "reports-token": "dDBrZW4="
    }
    captured = [
        r
        for r in three_functions.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == "api-key"
    ]
    assert len(captured) == 1 and is_secret_value(captured[0].inputs["data"]), (
        "values reach Pulumi as secrets"
    )


def test_secret_values_never_appear_in_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"pyfaas:functionSecrets": {"Bad/Name": "very-secret-value"}})
    assert info.value.field == "pyfaas:functionSecrets"
    assert "very-secret-value" not in str(info.value)
    with pytest.raises(ConfigError, match="'elsewhere' is not a function namespace"):
        load_config({"pyfaas:functionSecrets": {"elsewhere/key": "v"}})
