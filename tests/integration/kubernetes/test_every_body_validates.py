"""Every body the provider sends, re-checked after the fact against Kubernetes 1.30 and 1.37 (strict).

The test API server already refuses invalid bodies (422); this test drives every write the provider makes
and then validates the recorded bodies again, independently, so a server that forgot to check would not hide
a bad body, and so the covered (method, kind) pairs are visible.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from pyfaas.core.k8s import function_deployment, function_service, replica_key_secret
from pyfaas.core.models import FunctionDeployment, FunctionNamespace, FunctionResources, Secret
from tests.support.kube_provider import kube_stack
from tests.support.kube_schema import schema_errors

pytestmark = pytest.mark.timeout(60)

VERSIONS = ("1.30", "1.37")


async def test_every_write_body_is_valid_for_1_30_and_1_37(tmp_path: Path) -> None:
    async with kube_stack(tmp_path, run_pods=False) as stack:
        provider = stack.provider
        await provider.create_namespace(
            FunctionNamespace(name="dev", labels={"team": "a"}, annotations={"o": "x"})
        )
        await provider.update_namespace(FunctionNamespace(name="dev", labels={"team": "b"}))
        await provider.create_secret(Secret(name="api-key", namespace="dev", value="v1"))
        await provider.update_secret(Secret(name="api-key", namespace="dev", rawValue=b"\x00\x01"))
        spec = FunctionDeployment(
            service="full",
            namespace="dev",
            image="example/full:1",
            envProcess="python3 index.py",
            envVars={"b": "2", "a": "1"},
            labels={"com.openfaas.scale.min": "2", "team": "a"},
            annotations={"topic": "orders"},
            secrets=["api-key"],
            limits=FunctionResources(memory="128Mi", cpu="500m"),
            requests=FunctionResources(memory="64Mi", cpu="50m"),
            readOnlyRootFilesystem=True,
        )
        await provider.deploy(spec)
        await provider.update(spec.model_copy(update={"image": "example/full:2"}))
        await provider.scale("full", "dev", 0)
        await provider.scale("full", "dev", 12)
        await provider.delete("full", "dev")
        await provider.delete_secret("api-key", "dev")

        sent = [(m, p, b) for m, p, b in stack.server.received if b is not None]
        covered = {(method, str(body.get("kind"))) for method, _, body in sent}
        assert {
            ("POST", "Namespace"),
            ("PUT", "Namespace"),
            ("POST", "Secret"),
            ("PATCH", "Secret"),  # server-side apply
            ("POST", "Deployment"),
            ("PATCH", "Deployment"),
            ("PATCH", "Service"),
            ("PUT", "Scale"),
        } <= covered
        for method, path, body in sent:
            for version in VERSIONS:
                assert schema_errors(body, version) == [], (method, path, version)
        assert stack.server.rejected == []


async def test_the_api_receives_exactly_the_shared_builder_bodies(tmp_path: Path) -> None:
    """What goes over the wire on deploy is ``pyfaas.core.k8s``'s output, byte for byte (as JSON): the same
    bodies the Pulumi ``Function`` component declares, so both ways of deploying give identical objects."""
    spec = FunctionDeployment(
        service="same",
        image="example/same:1",
        envProcess="cat",
        envVars={"z": "1", "a": "2"},
        labels={"team": "a"},
        limits=FunctionResources(memory="64Mi"),
        readOnlyRootFilesystem=True,
    )
    async with kube_stack(tmp_path, run_pods=False) as stack:
        await stack.provider.deploy(spec)
        options = stack.provider.config.workload
        posted = {
            str(body["kind"]): body
            for method, _, body in stack.server.received
            if method in ("POST", "PATCH") and body is not None  # the Service is applied (PATCH)
        }
        assert posted["Deployment"] == function_deployment(
            spec, namespace="openfaas-fn", options=options, replica_key=True
        )
        key = base64.b64decode(posted["Secret"]["data"]["key"]).decode()
        assert len(key) >= 43  # 256 random bits
        assert posted["Secret"] == replica_key_secret("same", namespace="openfaas-fn", key=key)
        assert posted["Service"] == function_service(spec, namespace="openfaas-fn", options=options)
