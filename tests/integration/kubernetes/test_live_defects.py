"""Defects a real kube-apiserver (v1.24) showed and the test API server could not: each fixed, tested here.

Runs on the session's real cluster (``kube_cluster``: ``PYFAAS_TEST_KUBECONFIG`` or ``PYFAAS_KUBE_ASSETS``;
skips without either); every test works in its own ``k2-*`` namespace.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Namespace, ResourceQuota, Service
from lightkube.resources.core_v1 import Secret as SecretObject
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, Role, RoleBinding
from prometheus_client import CollectorRegistry

from pyfaas.core.errors import Forbidden, NamespaceNotFound, ValidationFailed
from pyfaas.core.models import FunctionDeployment, FunctionNamespace, ReplicaFailure, Secret
from pyfaas.core.replica_key import REPLICA_KEY_LABEL
from pyfaas.gateway.app import create_app
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.infra.gateway_rbac import PROVIDER_RULES, cluster_rules
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderSettings
from tests.integration.kubernetes.live import (
    eventually,
    fn,
    live_provider,
    pulumi_apply,
    scratch_namespace,
    service_account_kubeconfig,
)
from tests.support.infra import render
from tests.support.providers import serve_app

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def namespace(admin: AsyncClient) -> AsyncIterator[str]:
    async with scratch_namespace(admin) as name:
        yield name


@pytest.fixture
async def provider(kubeconfig: Path, namespace: str) -> AsyncIterator[KubernetesProvider]:
    async with live_provider(kubeconfig, namespace) as running:
        yield running


async def names(admin: AsyncClient, kind: type[Deployment] | type[Service], namespace: str) -> list[str]:
    return sorted([item.metadata.name async for item in admin.list(kind, namespace=namespace)])  # type: ignore[union-attr]


# names ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["1fn", "9", "0-api"])
async def test_name_kubernetes_cannot_hold_is_refused_before_anything_is_written(
    provider: KubernetesProvider, admin: AsyncClient, namespace: str, name: str
) -> None:
    # A DNS-1123 label that is not DNS-1035: a Deployment may have it, a Service may not.
    with pytest.raises(ValidationFailed) as raised:
        await provider.deploy(fn(name))
    assert raised.value.field == "service" and "DNS-1035" in raised.value.message
    assert await names(admin, Deployment, namespace) == []
    assert await provider.list_functions(namespace) == []


async def test_a_deploy_whose_service_is_refused_leaves_no_function(
    provider: KubernetesProvider, admin: AsyncClient, namespace: str
) -> None:
    # A quota allowing no Services: the API server refuses the Service after accepting the Deployment.
    quota = {"metadata": {"name": "no-services"}, "spec": {"hard": {"services": "0"}}}
    await admin.create(ResourceQuota.from_dict(quota), namespace=namespace)
    with pytest.raises(Forbidden) as raised:
        await provider.deploy(fn("api"))
    assert "exceeded quota" in raised.value.message
    assert await provider.list_functions(namespace) == []
    assert [d for d in await names(admin, Deployment, namespace)] == []

    await admin.delete(ResourceQuota, "no-services", namespace=namespace)
    await provider.deploy(fn("api"))  # no leftover: no 409
    assert [f.name for f in await provider.list_functions(namespace)] == ["api"]
    assert await names(admin, Service, namespace) == ["api"]


# namespaces being deleted ------------------------------------------------------------------------------
async def test_a_namespace_being_deleted_is_not_served(
    provider: KubernetesProvider, admin: AsyncClient, namespace: str
) -> None:
    await provider.create_namespace(FunctionNamespace(name=f"{namespace}-dev"))
    dev = f"{namespace}-dev"
    # A finalizer on an object inside keeps the namespace Terminating for as long as the test needs.
    held = {"metadata": {"name": "held", "finalizers": ["pyfaas.dev/test-hold"]}}
    await admin.create(ConfigMap.from_dict(held), namespace=dev)
    try:
        await admin.delete(Namespace, dev)  # by someone else: the provider still knows it as a function one
        assert (await admin.get(Namespace, dev)).metadata.deletionTimestamp is not None  # type: ignore[union-attr]

        assert dev not in await provider.list_namespaces()
        with pytest.raises(NamespaceNotFound):
            await provider.get_namespace(dev)
        with pytest.raises(NamespaceNotFound):
            await provider.delete_namespace(dev)
        with pytest.raises((NamespaceNotFound, ValidationFailed)):
            await provider.deploy(fn("api", namespace=dev))
        with pytest.raises((NamespaceNotFound, ValidationFailed)):
            await provider.create_secret(Secret(name="s", namespace=dev, value="v"))
    finally:
        await admin.patch(ConfigMap, "held", {"metadata": {"finalizers": None}}, namespace=dev)


async def test_namespace_deleted_through_the_provider_is_gone_at_once(
    provider: KubernetesProvider, admin: AsyncClient
) -> None:
    # The contract test test_namespaces[kubernetes], on the real server: deletion is not instant there.
    await provider.create_namespace(FunctionNamespace(name="k2-contract-dev", labels={"team": "a"}))
    try:
        await provider.deploy(fn("cat", namespace="k2-contract-dev"))
        await provider.delete("cat", "k2-contract-dev")
        await provider.delete_namespace("k2-contract-dev")
        assert "k2-contract-dev" not in await provider.list_namespaces()
        with pytest.raises(NamespaceNotFound):
            await provider.get_namespace("k2-contract-dev")
        with pytest.raises(NamespaceNotFound):
            await provider.delete_namespace("k2-contract-dev")
    finally:
        with contextlib.suppress(ApiError):
            await admin.delete(Namespace, "k2-contract-dev")


# a function namespace the gateway has no Role in -------------------------------------------------------
async def test_a_namespace_without_a_role_costs_that_namespace_only(
    admin: AsyncClient, kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    # The RBAC the Pulumi program gives the gateway, for one function namespace (its own), and a second
    # namespace labelled openfaas=1 that nobody gave the gateway a Role in.
    role = f"{namespace}-gateway"
    rules = {"metadata": {"name": role}, "rules": PROVIDER_RULES}
    await admin.create(Role.from_dict(rules), namespace=namespace)
    subject = [{"kind": "ServiceAccount", "name": "gateway", "namespace": namespace}]
    ref = {"apiGroup": "rbac.authorization.k8s.io"}
    binding = {
        "metadata": {"name": role},
        "roleRef": {**ref, "kind": "Role", "name": role},
        "subjects": subject,
    }
    await admin.create(RoleBinding.from_dict(binding), namespace=namespace)
    cluster_role = {"metadata": {"name": role}, "rules": cluster_rules(manage_namespaces=False)}
    cluster_binding = {**binding, "roleRef": {**ref, "kind": "ClusterRole", "name": role}}
    await admin.create(ClusterRole.from_dict(cluster_role))
    try:
        await admin.create(ClusterRoleBinding.from_dict(cluster_binding))
        config = await service_account_kubeconfig(admin, kubeconfig, namespace, "gateway", tmp_path / "sa")
        async with (
            scratch_namespace(admin) as unreadable,
            live_provider(config, namespace, request_timeout=10) as provider,  # it starts
        ):
            assert await provider.list_namespaces() == [namespace]
            await provider.deploy(fn("api"))
            assert [f.name for f in await provider.list_functions(namespace)] == ["api"]
            assert await provider.ready_replicas("api", namespace) == []
            with pytest.raises(Forbidden) as raised:
                await provider.list_functions(unreadable)
            assert "forbidden" in raised.value.message
            with pytest.raises(Forbidden):
                await provider.ready_replicas("api", unreadable)
    finally:
        with contextlib.suppress(ApiError):
            await admin.delete(ClusterRoleBinding, role)
        await admin.delete(ClusterRole, role)


# concurrent updates --------------------------------------------------------------------------------------
async def test_concurrent_updates_of_one_function_never_conflict(provider: KubernetesProvider) -> None:
    await provider.deploy(fn("api"))
    writers = 8
    durations: list[float] = []

    async def timed_update(spec: FunctionDeployment) -> None:
        started = time.perf_counter()
        await provider.update(spec)
        durations.append(time.perf_counter() - started)

    for round_ in range(3):
        specs = [fn("api", envVars={"writer": f"{round_}-{i}"}) for i in range(writers)]
        results = await asyncio.gather(*(timed_update(s) for s in specs), return_exceptions=True)
        assert [r for r in results if r is not None] == []
        status = await provider.get_function("api", provider.default_namespace)
        assert status.envVars is not None and status.envVars["writer"].startswith(f"{round_}-")
    # Each lost race costs one re-read and re-apply; printed for docs/kubernetes-provider.md.
    durations.sort()
    print(
        f"\n{writers} writers x 3 rounds: {provider.write_retries} retried writes; update took "
        f"median {statistics.median(durations) * 1000:.0f} ms, slowest {durations[-1] * 1000:.0f} ms"
    )


# field ownership with Pulumi -----------------------------------------------------------------------------
STACK = """\
version: 1.0
provider: {name: openfaas}
functions:
  api:
    image: localhost/python:3.11-bookworm
    environment: {declared_by: pulumi}
    labels: {team: platform}
"""


def pulumi_function_objects(namespace: str, root: Path) -> list[dict[str, Any]]:
    """The Pulumi program's objects for a function and a secret in ``namespace`` (rendered under mocks)."""
    (root / "stack.yml").write_text(STACK)
    rendered = render(
        {
            "pyfaas:functionNamespace": namespace,
            "pyfaas:stackFile": "stack.yml",
            "pyfaas:functionSecrets": {"api-key": "from-pulumi"},
        },
        root=root,
    )
    return [
        o
        for o in rendered.objects()
        if o["metadata"].get("namespace") == namespace
        and o["kind"] in ("Deployment", "Service", "Secret")
        and REPLICA_KEY_LABEL
        not in (o["metadata"].get("labels") or {})  # the function's key, not a secret of its
    ]


async def test_pulumi_puts_its_version_back_after_an_api_update(
    provider: KubernetesProvider, admin: AsyncClient, namespace: str, tmp_path: Path
) -> None:
    objects = pulumi_function_objects(namespace, tmp_path)
    assert sorted(o["kind"] for o in objects) == ["Deployment", "Secret", "Service"]
    # The secret exists first, created through the API, and is then declared in functionSecrets.
    await provider.create_secret(Secret(name="api-key", namespace=namespace, value="from-the-api-first"))
    pulumi_version = {o["kind"]: await pulumi_apply(admin, o) for o in objects}  # pulumi up
    assert base64.b64decode(pulumi_version["Secret"]["data"]["api-key"]) == b"from-pulumi"

    # Through the API: a new image, another env var, no labels, a scale; the secret gets a new value.
    await provider.update(fn("api", image="localhost/python:3.11-other", envVars={"added_by": "api"}))
    await provider.scale("api", namespace, 3)
    await provider.update_secret(Secret(name="api-key", namespace=namespace, value="from-the-api"))
    changed = (await admin.get(Deployment, "api", namespace=namespace)).to_dict()
    assert changed["spec"]["template"]["spec"]["containers"][0]["image"] == "localhost/python:3.11-other"

    for body in objects:  # the next pulumi up (a changed input or --refresh makes it apply)
        await pulumi_apply(admin, body)
    restored = (await admin.get(Deployment, "api", namespace=namespace)).to_dict()
    expected = pulumi_version["Deployment"]
    assert restored["spec"]["template"] == expected["spec"]["template"]  # no uid label, no added_by
    assert restored["spec"]["replicas"] == expected["spec"]["replicas"] == 1
    assert restored["metadata"]["labels"] == expected["metadata"]["labels"]
    secret = (await admin.get(SecretObject, "api-key", namespace=namespace)).to_dict()
    assert base64.b64decode(secret["data"]["api-key"]) == b"from-pulumi"
    service = (await admin.get(Service, "api", namespace=namespace)).to_dict()
    assert service["spec"]["ports"] == pulumi_version["Service"]["spec"]["ports"]

    # And the other way round: the API's next update is not refused either.
    await provider.update(fn("api", envVars={"again": "1"}))
    status = await provider.get_function("api", namespace)
    assert status.envVars == {"again": "1"}


# images and functions that cannot start ------------------------------------------------------------------
@pytest.mark.parametrize(
    "image", [" localhost/python:3.11-bookworm ", "python:3.11 ", "Python:3", "a b:1", "img:1\n"]
)
async def test_an_invalid_image_is_refused_before_anything_is_written(
    provider: KubernetesProvider, admin: AsyncClient, namespace: str, image: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        await provider.deploy(fn("api", image=image))
    assert raised.value.field == "image"
    assert await names(admin, Deployment, namespace) == []
    await provider.deploy(fn("api"))
    with pytest.raises(ValidationFailed):
        await provider.update(fn("api", image=image))


async def failure_of(provider: KubernetesProvider, name: str) -> ReplicaFailure:
    status = await eventually(
        lambda: provider.get_function(name, provider.default_namespace),
        lambda s: s.replicaFailure is not None and s.replicaFailure.beforeReady,
        within=90,
    )
    assert status.replicaFailure is not None
    return status.replicaFailure


async def test_an_image_that_cannot_be_pulled_is_reported(provider: KubernetesProvider) -> None:
    await provider.deploy(fn("api", image="registry.invalid/nothing:1"))
    failure = await failure_of(provider, "api")
    assert failure.reason in ("ErrImagePull", "ImagePullBackOff")
    assert "registry.invalid/nothing:1" in failure.message


async def test_a_refused_pod_is_reported(
    provider: KubernetesProvider, admin: AsyncClient, namespace: str
) -> None:
    quota = {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}}
    await admin.create(ResourceQuota.from_dict(quota), namespace=namespace)
    await provider.deploy(fn("api"))
    failure = await failure_of(provider, "api")
    assert failure.reason == "FailedCreate" and "exceeded quota" in failure.message


async def test_a_crash_looping_function_is_reported_with_its_last_output(
    provider: KubernetesProvider, echo_images: tuple[str, str]
) -> None:
    # The python3-http image, with Python unable to find its standard library: it dies at start.
    await provider.deploy(fn("api", image=echo_images[0], envVars={"PYTHONHOME": "/nonexistent"}))
    failure = await failure_of(provider, "api")
    assert failure.reason == "CrashLoopBackOff"
    assert "exit code 1" in failure.message and "encodings" in failure.message, failure.message
    assert failure.restarts >= 1


@pytest.mark.parametrize(("why", "reason"), [("pull", "ErrImagePull"), ("crash", "CrashLoopBackOff")])
async def test_a_call_waiting_for_a_function_that_cannot_start_is_told_why(
    kubeconfig: Path, namespace: str, echo_images: tuple[str, str], why: str, reason: str
) -> None:
    # The gateway on the host with provider=kubernetes; a long scale-from-zero timeout, so an answer that
    # names the reason comes from the failure, not from giving up.
    env = {
        "KUBECONFIG": str(kubeconfig),
        "function_namespace": namespace,
        "image_pull_policy": "IfNotPresent",
    }
    provider = KubernetesProvider(KubernetesProviderSettings.from_env(env).config())
    settings = GatewaySettings.from_env(
        {"provider": "kubernetes", "function_namespace": namespace, "scale_from_zero_timeout": "120s"}
    )
    app = create_app(settings, provider, registry=CollectorRegistry())
    spec: dict[str, Any] = {"service": "api", "image": "registry.invalid/nothing:1"}
    if why == "crash":
        spec = {"service": "api", "image": echo_images[0], "envVars": {"PYTHONHOME": "/nonexistent"}}
    async with serve_app(app) as url, aiohttp.ClientSession(base_url=url) as http:
        async with http.post("/system/functions", json=spec) as response:
            assert response.status == 202, await response.text()
        async with http.post("/function/api", data=b"hello") as response:
            status, text = response.status, await response.text()
        assert status == 503 and "cannot start" in text and reason in text, (status, text)
        if why == "crash":
            assert "encodings" in text  # the crashed process's own last words
        async with http.get("/system/function/api") as response:
            failure = (await response.json())["replicaFailure"]
        assert failure["reason"] in (reason, "ImagePullBackOff") and failure["beforeReady"] is True
