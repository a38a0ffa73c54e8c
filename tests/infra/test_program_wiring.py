"""How the program's components are wired: dependencies travel in ``ResourceOptions.depends_on`` (recorded by
the mock engine), and the gateway's settings come from the other components' outputs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.infra import Rendered, render


def _env(rendered: Rendered) -> dict[str, str]:
    (container,) = rendered.object("Deployment", "gateway")["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item["value"] for item in container["env"]}


@pytest.mark.parametrize("stack", ["default", "three-functions", "full-options"])
def test_every_object_in_a_namespace_waits_for_that_namespace(
    all_stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = all_stacks[stack]
    namespaces = {
        r.inputs["metadata"]["name"]: r.name for r in rendered.of_type("kubernetes:core/v1:Namespace")
    }
    late: list[str] = []
    for resource in rendered.resources:
        namespace = (resource.inputs.get("metadata") or {}).get("namespace")
        if not resource.typ.startswith("kubernetes:") or namespace is None:
            continue
        waits = rendered.options[(resource.typ, resource.name)]["dependsOn"]
        if not any(urn.endswith(f"::{namespaces[namespace]}") for urn in waits):
            late.append(f"{resource.typ} {resource.name}")
    assert namespaces and late == []


def test_workloads_also_wait_for_what_they_mount(default_stack: Rendered) -> None:
    def waits(typ: str, name: str) -> list[str]:
        return [urn.rsplit("::", 1)[1] for urn in default_stack.options[(typ, name)]["dependsOn"]]

    deployment = "kubernetes:apps/v1:Deployment"
    assert {"pyfaas-gateway-basic-auth", "pyfaas-gateway-sa"} <= set(
        waits(deployment, "pyfaas-gateway-deployment")
    )
    assert "pyfaas-prometheus-config" in waits(deployment, "pyfaas-prometheus-deployment")
    assert "pyfaas-gateway-deployment" in waits(deployment, "pyfaas-idler-deployment")
    statefulset = waits("kubernetes:apps/v1:StatefulSet", "pyfaas-nats-statefulset")
    assert {"pyfaas-nats-config", "pyfaas-nats-headless"} <= set(statefulset)


@pytest.mark.parametrize(
    ("config", "nats", "prometheus"),
    [
        ({}, "nats://nats.openfaas.svc:4222", ("prometheus.openfaas.svc", "9090")),
        (
            {"pyfaas:controlNamespace": "platform"},
            "nats://nats.platform.svc:4222",
            ("prometheus.platform.svc", "9090"),
        ),
        (
            {"pyfaas:prometheus": {"enabled": False}, "pyfaas:alertmanager": {"enabled": False}},
            "nats://nats.openfaas.svc:4222",
            None,
        ),
    ],
)
def test_the_gateway_takes_nats_and_prometheus_from_their_components(
    config: dict[str, Any], nats: str, prometheus: tuple[str, str] | None
) -> None:
    env = _env(render(config))
    assert env["nats_url"] == nats
    if prometheus is None:
        assert "faas_prometheus_host" not in env
    else:
        assert (env["faas_prometheus_host"], env["faas_prometheus_port"]) == prometheus
