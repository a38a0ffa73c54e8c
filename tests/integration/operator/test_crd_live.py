"""The Function CRD on the real test cluster: it installs, accepts faas-cli generate's objects, and the API
server itself rejects invalid objects with 422 naming each bad field. Scale works through the subresource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient

from pyfaas.core.function_crd import function_object
from pyfaas.core.models import FunctionDeployment, FunctionResources
from tests.support.operator_cluster import FunctionResource

pytestmark = pytest.mark.timeout(120)

# What `faas-cli generate` prints for a stack function (apiVersion openfaas.com/v1), field for field.
FAAS_CLI_GENERATED = """
apiVersion: openfaas.com/v1
kind: Function
metadata:
  name: nodeinfo
  namespace: {namespace}
spec:
  name: nodeinfo
  image: ghcr.io/openfaas/nodeinfo:latest
  environment:
    write_debug: "true"
  labels:
    com.openfaas.scale.min: "2"
  annotations:
    topic: cron
  limits:
    memory: 128Mi
    cpu: 200m
  requests:
    memory: 64Mi
  constraints:
  - node.kubernetes.io/instance-type=m5.large
  secrets:
  - api-key
  readOnlyRootFilesystem: true
"""


async def test_faas_cli_generate_output_is_accepted_unchanged(client: AsyncClient, namespace: str) -> None:
    import yaml

    body = yaml.safe_load(FAAS_CLI_GENERATED.format(namespace=namespace))
    created = (await client.create(FunctionResource.from_dict(body))).to_dict()
    assert created["spec"] == body["spec"]  # nothing pruned: every field faas-cli writes is in the schema


async def test_our_own_function_objects_are_accepted(client: AsyncClient, namespace: str) -> None:
    spec = FunctionDeployment(
        service="echo",
        image="localhost/python:3.11-bookworm",
        envProcess="python3 handler.py",
        envVars={"a": "1"},
        limits=FunctionResources(memory="64Mi"),
    )
    body = function_object(spec, namespace=namespace, replicas=0)
    created = (await client.create(FunctionResource.from_dict(body))).to_dict()
    assert created["spec"] == body["spec"]


async def _rejected(client: AsyncClient, namespace: str, spec: dict[str, Any]) -> ApiError:
    body = {"apiVersion": "openfaas.com/v1", "kind": "Function", "metadata": {"name": "bad"}, "spec": spec}
    body["metadata"]["namespace"] = namespace
    with pytest.raises(ApiError) as caught:
        await client.create(FunctionResource.from_dict(body))
    return caught.value


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"image": "x:1"}, "spec.name"),
        ({"name": "bad"}, "spec.image"),
        ({"name": "Bad_Name", "image": "x:1"}, "spec.name"),
        ({"name": "bad", "image": "http://registry/x y"}, "spec.image"),
        ({"name": "bad", "image": "x:1", "limits": {"memory": "lots"}}, "spec.limits.memory"),
        ({"name": "bad", "image": "x:1", "requests": {"cpu": "1 core"}}, "spec.requests.cpu"),
        ({"name": "bad", "image": "x:1", "replicas": -1}, "spec.replicas"),
        ({"name": "bad", "image": "x:1", "labels": {"com.openfaas.scale.min": 2}}, "spec.labels"),
        ({"name": "bad", "image": "x:1", "secrets": ["Not/A/Secret"]}, "spec.secrets[0]"),
    ],
)
async def test_invalid_objects_get_the_api_servers_422(
    client: AsyncClient, namespace: str, spec: dict[str, Any], field: str
) -> None:
    error = await _rejected(client, namespace, spec)
    status = error.status
    assert status is not None and status.code == 422, status
    assert status.reason == "Invalid"
    causes = [c.field for c in (status.details.causes if status.details and status.details.causes else [])]
    assert any(c is not None and c.startswith(field) for c in causes), (field, causes)


async def test_quantities_may_be_integers(client: AsyncClient, namespace: str) -> None:
    body = {
        "apiVersion": "openfaas.com/v1",
        "kind": "Function",
        "metadata": {"name": "ints", "namespace": namespace},
        "spec": {"name": "ints", "image": "x:1", "limits": {"cpu": 1, "memory": "1Gi"}},
    }
    created = (await client.create(FunctionResource.from_dict(body))).to_dict()
    assert created["spec"]["limits"] == {"cpu": 1, "memory": "1Gi"}


async def test_scale_subresource_sets_spec_replicas(client: AsyncClient, namespace: str) -> None:
    body = function_object(FunctionDeployment(service="scaled", image="x:1"), namespace=namespace)
    await client.create(FunctionResource.from_dict(body))
    scale = FunctionResource.Scale.from_dict(
        {"metadata": {"name": "scaled", "namespace": namespace}, "spec": {"replicas": 3}}
    )
    await client.replace(scale, "scaled", namespace=namespace)
    current = (await client.get(FunctionResource, "scaled", namespace=namespace)).to_dict()
    assert current["spec"]["replicas"] == 3


async def test_pyfaas_generate_output_applies_with_kubectl(
    client: AsyncClient, namespace: str, kubeconfig: Path, tmp_path: Path
) -> None:
    from tests.support.cli import cli_env, run_cli
    from tests.support.operator_process import kubectl

    (tmp_path / "stack.yml").write_text(
        "provider:\n  name: openfaas\nfunctions:\n"
        "  one:\n    image: localhost/one:1\n    labels:\n      com.openfaas.scale.min: 2\n"
        "    limits:\n      memory: 64Mi\n"
        "  two:\n    image: localhost/two:1\n    fprocess: cat\n    readonly_root_filesystem: true\n"
    )
    generated = run_cli(["generate", "-n", namespace], env=cli_env(tmp_path), cwd=tmp_path)
    assert generated.code == 0, generated.stderr
    applied = kubectl(kubeconfig, "apply", "-f", "-", input=generated.stdout)
    assert "function.openfaas.com/one created" in applied and "function.openfaas.com/two created" in applied
    two = (await client.get(FunctionResource, "two", namespace=namespace)).to_dict()
    assert two["spec"] == {
        "name": "two",
        "image": "localhost/two:1",
        "handler": "cat",
        "readOnlyRootFilesystem": True,
    }
