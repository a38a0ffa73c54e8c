"""``pyfaas.infra`` from a Pulumi program of one's own: the components import from the package and register
under Pulumi's mocks (no CLI, no cluster), as in the example of docs/deploy-kubernetes.md."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pulumi

import pyfaas.infra
from pyfaas import function
from tests.support.infra import RecordingMocks, _pulumi_test, kubernetes_objects


def test_the_public_names_resolve_and_the_config_module_alone_loads_no_pulumi() -> None:
    assert all(getattr(pyfaas.infra, name) is not None for name in pyfaas.infra.__all__)
    code = "import sys, pyfaas.infra.config; print('pulumi' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_platform_and_function_register_from_a_users_program() -> None:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="mine", stack="test", preview=False)

    @_pulumi_test
    def program() -> pulumi.Output[Any]:
        # What a user writes (docs/deploy-kubernetes.md, "Your own Pulumi program").
        import pyfaas.infra as pyfaas_infra

        config = pyfaas_infra.load_config({"pyfaas:gateway": '{"replicas": 2}'})
        platform = pyfaas_infra.Platform(
            "pyfaas",
            pyfaas_infra.PlatformArgs(
                config=config,
                alerts=pyfaas_infra.bundled_alert_sources(),
                functions=[function("echo", image="ghcr.io/acme/echo:1.0.0").deployment],
            ),
        )
        extra = pyfaas_infra.Function(
            "reports",
            pyfaas_infra.FunctionArgs(
                spec=function("reports", image="ghcr.io/acme/reports:2.0.1").deployment,
                namespace="openfaas-fn",
                options=pyfaas_infra.workload_options(config),
            ),
            opts=pulumi.ResourceOptions(depends_on=[platform]),
        )
        assert extra.url == "http://reports.openfaas-fn.svc:8080"
        return platform.gateway_url

    program()
    components = {(r.typ, r.name) for r in mocks.resources if r.typ.startswith("pyfaas:")}
    assert {("pyfaas:index:Platform", "pyfaas"), ("pyfaas:index:Function", "reports")} <= components
    deployments = {
        (body["metadata"].get("namespace"), body["metadata"]["name"]): body["spec"].get("replicas")
        for body in kubernetes_objects(mocks.resources)
        if body["kind"] == "Deployment"
    }
    assert {("openfaas-fn", "echo"), ("openfaas-fn", "reports")} <= deployments.keys()
    assert deployments[("openfaas", "gateway")] == 2  # the config the program gave was applied
