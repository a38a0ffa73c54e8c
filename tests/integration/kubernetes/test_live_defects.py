"""Defects a real kube-apiserver (v1.24) showed and the test API server could not: each fixed, tested here.

Runs against the cluster named by ``PYFAAS_TEST_KUBECONFIG`` (skips without it); every test works in its own
``k2-*`` namespace.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Namespace, ResourceQuota, Service
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, Role, RoleBinding

from pyfaas.core.errors import Forbidden, NamespaceNotFound, ValidationFailed
from pyfaas.core.models import FunctionNamespace, Secret
from pyfaas.infra.gateway_rbac import PROVIDER_RULES, cluster_rules
from pyfaas.provider.kubernetes import KubernetesProvider
from tests.integration.kubernetes.live import (
    admin_client,
    fn,
    live_kubeconfig,
    live_provider,
    scratch_namespace,
    service_account_kubeconfig,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def kubeconfig() -> Path:
    return live_kubeconfig()


@pytest.fixture
async def admin(kubeconfig: Path) -> AsyncIterator[AsyncClient]:
    async with admin_client(kubeconfig) as client:
        yield client


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


async def test_namespace_deleted_through_the_provider_is_gone_at_once(provider: KubernetesProvider) -> None:
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
        async with admin_client(live_kubeconfig()) as admin:
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
