"""The pure Kubernetes builders: shape (contract §5.2) and validity against the 1.30 and 1.37 schemas."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyfaas.core.k8s import (
    FunctionWorkloadOptions,
    function_deployment,
    function_namespace,
    function_secret,
    function_service,
    function_status,
    initial_replicas,
)
from pyfaas.core.models import FunctionDeployment, FunctionNamespace, FunctionResources, Secret
from tests.support.kube_schema import SCHEMA_VERSIONS, bundled_versions, schema_errors

NS = "openfaas-fn"
DEFAULT = FunctionWorkloadOptions()
FULL = FunctionDeployment(
    service="echo",
    image="ghcr.io/acme/echo:1.2",
    envProcess="python3 index.py",
    envVars={"zeta": "1", "alpha": "2", "write_timeout": "10s"},
    labels={"com.openfaas.scale.min": "2", "team": "a"},
    annotations={"topic": "orders", "prometheus.io.scrape": "true"},
    secrets=["db-password", "api-key", "registry"],
    limits=FunctionResources(memory="256Mi", cpu="500m"),
    requests=FunctionResources(memory="64Mi"),
    readOnlyRootFilesystem=True,
)
MINIMAL = FunctionDeployment(service="tiny", image="tiny:latest")
OPTION_SETS = [
    DEFAULT,
    FunctionWorkloadOptions(set_nonroot_user=True, http_probe=False, image_pull_policy="IfNotPresent"),
    FunctionWorkloadOptions(
        default_limits=FunctionResources(memory="128Mi"),
        default_requests=FunctionResources(cpu="50m"),
        termination_grace_period_seconds=75,
    ),
]


def bodies(spec: FunctionDeployment, options: FunctionWorkloadOptions) -> list[dict[str, Any]]:
    return [
        function_deployment(
            spec, namespace=NS, options=options, image_pull_secrets=["registry"], rollout_token="7"
        ),
        function_deployment(spec, namespace=NS, options=options),
        function_service(spec, namespace=NS, options=options),
    ]


def container(body: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = body["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_both_stated_versions_are_bundled() -> None:
    assert set(SCHEMA_VERSIONS) <= set(bundled_versions())


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("options", OPTION_SETS)
@pytest.mark.parametrize("spec", [FULL, MINIMAL], ids=["full", "minimal"])
def test_function_bodies_validate(
    spec: FunctionDeployment, options: FunctionWorkloadOptions, version: str
) -> None:
    for body in bodies(spec, options):
        assert schema_errors(body, version) == [], body["kind"]


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_secret_and_namespace_bodies_validate(version: str) -> None:
    assert schema_errors(function_secret(Secret(name="api-key", value="s3cr3t"), namespace=NS), version) == []
    raw = Secret(name="tls.key", rawValue=b"\x00\xff")
    assert schema_errors(function_secret(raw, namespace=NS), version) == []
    namespace = FunctionNamespace(name="staging-fn", labels={"team": "a"}, annotations={"owner": "x"})
    assert schema_errors(function_namespace(namespace), version) == []


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_the_validator_rejects_what_an_api_server_rejects(version: str) -> None:
    body = function_deployment(FULL, namespace=NS, options=DEFAULT)
    body["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"  # misspelt: unknown field
    body["spec"]["replicas"] = 2.0  # a float where Kubernetes wants an int
    body["spec"]["template"]["metadata"]["labels"]["bad"] = "not valid!"
    errors = schema_errors(body, version)
    assert any("imagePulPolicy" in e for e in errors)
    assert any("spec.replicas" in e for e in errors)
    assert any("not valid!" in e for e in errors)
    del body["spec"]["selector"]
    assert any("selector" in e for e in schema_errors(body, version))


def test_deployment_shape_follows_faas_netes() -> None:
    body = function_deployment(FULL, namespace=NS, options=DEFAULT)
    assert body["metadata"] == {
        "name": "echo",
        "namespace": NS,
        "labels": {"faas_function": "echo"},
        "annotations": {"topic": "orders", "prometheus.io.scrape": "true"},
    }
    spec = body["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"faas_function": "echo"}}
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert spec["revisionHistoryLimit"] == 10
    template = spec["template"]
    assert template["metadata"]["labels"] == {
        "com.openfaas.scale.min": "2",
        "team": "a",
        "faas_function": "echo",
    }
    assert template["metadata"]["annotations"] == body["metadata"]["annotations"]
    c = container(body)
    assert c["name"] == "echo" and c["image"] == "ghcr.io/acme/echo:1.2"
    assert c["imagePullPolicy"] == "Always"
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert [e["name"] for e in c["env"]] == ["alpha", "fprocess", "write_timeout", "zeta"]
    assert {"name": "fprocess", "value": "python3 index.py"} in c["env"]
    assert c["resources"] == {"limits": {"memory": "256Mi", "cpu": "500m"}, "requests": {"memory": "64Mi"}}
    probe = {
        "httpGet": {"path": "/_/health", "port": 8080, "scheme": "HTTP"},
        "initialDelaySeconds": 2,
        "timeoutSeconds": 1,
        "periodSeconds": 2,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["readinessProbe"] == probe and c["livenessProbe"] == probe
    assert c["securityContext"] == {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
    assert c["volumeMounts"] == [
        {"name": "echo-projected-secrets", "mountPath": "/var/openfaas/secrets", "readOnly": True},
        {"name": "temp", "mountPath": "/tmp"},
    ]
    volumes = template["spec"]["volumes"]
    assert volumes[0] == {
        "name": "echo-projected-secrets",
        "projected": {"sources": [{"secret": {"name": n}} for n in ("api-key", "db-password", "registry")]},
    }
    assert volumes[1] == {"name": "temp", "emptyDir": {}}


def test_scrape_annotation_defaults_to_false() -> None:
    body = function_deployment(MINIMAL, namespace=NS, options=DEFAULT)
    assert body["metadata"]["annotations"] == {"prometheus.io.scrape": "false"}
    assert function_service(MINIMAL, namespace=NS)["metadata"]["annotations"] == {
        "prometheus.io.scrape": "false"
    }


def test_writable_root_has_no_tmp_volume_and_no_secrets_volume() -> None:
    body = function_deployment(MINIMAL, namespace=NS, options=DEFAULT)
    assert "volumes" not in body["spec"]["template"]["spec"]
    assert "volumeMounts" not in container(body)
    assert container(body)["securityContext"]["readOnlyRootFilesystem"] is False


def test_options_nonroot_exec_probe_pull_policy_defaults() -> None:
    options = FunctionWorkloadOptions(
        set_nonroot_user=True,
        http_probe=False,
        image_pull_policy="IfNotPresent",
        default_limits=FunctionResources(memory="128Mi"),
        secrets_mount_path="/var/secrets",
        watchdog_port=9090,
    )
    spec = FunctionDeployment(service="a", image="a:1", secrets=["k"], requests=FunctionResources(cpu="10m"))
    c = container(function_deployment(spec, namespace=NS, options=options))
    assert c["securityContext"]["runAsUser"] == 12000 and c["securityContext"]["runAsNonRoot"] is True
    assert c["readinessProbe"]["exec"] == {"command": ["cat", "/tmp/.lock"]}
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["resources"] == {"limits": {"memory": "128Mi"}, "requests": {"cpu": "10m"}}
    assert c["volumeMounts"][0]["mountPath"] == "/var/secrets"
    assert c["ports"][0]["containerPort"] == 9090
    service = function_service(spec, namespace=NS, options=options)
    assert service["spec"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 9090, "targetPort": 9090}]


def test_registry_secrets_become_image_pull_secrets() -> None:
    body = function_deployment(FULL, namespace=NS, options=DEFAULT, image_pull_secrets=["registry", "unused"])
    pod = body["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert [s["secret"]["name"] for s in pod["volumes"][0]["projected"]["sources"]] == [
        "api-key",
        "db-password",
    ]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, 1),
        ({"com.openfaas.scale.min": "3"}, 3),
        ({"com.openfaas.scale.min": "0"}, 1),
        ({"com.openfaas.scale.zero": "true"}, 1),
        ({"com.openfaas.scale.min": "0", "com.openfaas.scale.zero": "true"}, 0),
        ({"com.openfaas.scale.min": "bogus", "com.openfaas.scale.zero": "true"}, 1),
        ({"com.openfaas.scale.min": "12"}, 12),  # no CE cap of 5
    ],
)
def test_initial_replicas(labels: dict[str, str], expected: int) -> None:
    spec = FunctionDeployment(service="f", image="f:1", labels=labels)
    assert initial_replicas(spec) == expected
    assert function_deployment(spec, namespace=NS, options=DEFAULT)["spec"]["replicas"] == expected
    assert function_deployment(spec, namespace=NS, options=DEFAULT, replicas=4)["spec"]["replicas"] == 4


def test_service_shape() -> None:
    assert function_service(FULL, namespace=NS) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "echo",
            "namespace": NS,
            "labels": {"faas_function": "echo"},
            "annotations": {"topic": "orders", "prometheus.io.scrape": "true"},
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {"faas_function": "echo"},
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "targetPort": 8080}],
        },
    }


def test_secret_shape() -> None:
    body = function_secret(Secret(name="api-key", value="s3cr3t"), namespace="other")
    assert body["metadata"] == {
        "name": "api-key",
        "namespace": "other",
        "labels": {"app.kubernetes.io/managed-by": "pyfaas"},
    }
    assert body["type"] == "Opaque"
    assert base64.b64decode(body["data"]["api-key"]) == b"s3cr3t"
    raw = function_secret(Secret(name="bin", rawValue=b"\x00\x01"), namespace="other")
    assert base64.b64decode(raw["data"]["bin"]) == b"\x00\x01"


def test_namespace_is_labelled_for_functions() -> None:
    body = function_namespace(FunctionNamespace(name="dev-fn", labels={"team": "a"}))
    assert body == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "dev-fn", "labels": {"team": "a", "openfaas": "1"}},
    }


def test_status_reads_back_what_was_deployed() -> None:
    body = function_deployment(
        FULL, namespace=NS, options=DEFAULT, image_pull_secrets=["registry"], rollout_token="9"
    )
    body["metadata"]["creationTimestamp"] = "2026-11-26T23:00:01Z"
    body["status"] = {"replicas": 2, "availableReplicas": 1, "readyReplicas": 1}
    status = function_status(body)
    assert status.name == "echo" and status.namespace == NS and status.image == FULL.image
    assert status.replicas == 2 and status.availableReplicas == 1
    assert status.envProcess == "python3 index.py"
    assert status.envVars == FULL.envVars
    assert status.labels == {**(FULL.labels or {}), "faas_function": "echo", "uid": "9"}
    assert status.annotations == FULL.annotations
    assert status.secrets == ["api-key", "db-password", "registry"]
    assert status.limits == FULL.limits and status.requests == FULL.requests
    assert status.readOnlyRootFilesystem is True
    assert status.createdAt == datetime(2026, 11, 26, 23, 0, 1, tzinfo=UTC)


def test_status_hides_the_defaulted_scrape_annotation() -> None:
    spec = FunctionDeployment(service="f", image="f:1", annotations={"note": "x"})
    assert function_status(function_deployment(spec, namespace=NS, options=DEFAULT)).annotations == {
        "note": "x"
    }


def test_status_of_a_fresh_deployment_without_status() -> None:
    status = function_status(function_deployment(MINIMAL, namespace=NS, options=DEFAULT))
    wire = status.wire()
    assert wire["replicas"] == 1 and "availableReplicas" not in wire
    assert "limits" not in wire and "secrets" not in wire and "envProcess" not in wire


_names = st.from_regex(r"^[a-z]([-a-z0-9]{0,20}[a-z0-9])?$", fullmatch=True)
_label_values = st.from_regex(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?)?$", fullmatch=True)
_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
_quantities = st.sampled_from([None, "128Mi", "1Gi", "100m", "2", "0.5"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=_names,
    env=st.dictionaries(st.from_regex(r"^[A-Za-z_][A-Za-z0-9_]{0,15}$", fullmatch=True), _text, max_size=4),
    labels=st.dictionaries(_names, _label_values, max_size=4),
    annotations=st.dictionaries(_names, _text, max_size=3),
    secrets=st.lists(_names, max_size=3),
    memory=_quantities,
    cpu=_quantities,
    read_only=st.booleans(),
    nonroot=st.booleans(),
    fprocess=st.one_of(st.none(), _text),
)
def test_any_valid_function_gives_valid_bodies(
    name: str,
    env: dict[str, str],
    labels: dict[str, str],
    annotations: dict[str, str],
    secrets: list[str],
    memory: str | None,
    cpu: str | None,
    read_only: bool,
    nonroot: bool,
    fprocess: str | None,
) -> None:
    spec = FunctionDeployment(
        service=name,
        image="registry.example/fn:1",
        envProcess=fprocess,
        envVars=env,
        labels=labels,
        annotations=annotations,
        secrets=secrets,
        limits=FunctionResources(memory=memory, cpu=cpu),
        readOnlyRootFilesystem=read_only,
    )
    options = FunctionWorkloadOptions(set_nonroot_user=nonroot)
    for version in SCHEMA_VERSIONS:
        for body in bodies(spec, options):
            assert schema_errors(body, version) == []
    assert function_status(function_deployment(spec, namespace=NS, options=options)).image == spec.image
