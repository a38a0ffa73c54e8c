"""How the provider reaches a real API server: the in-cluster service account (TLS with the cluster's CA, a
token file read again when the API refuses the token it holds) and a kubeconfig context with a bearer token.
Moved from the fake API server, which could only check the header it was sent."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRoleBinding, Role, RoleBinding

from pyfaas.core.errors import KubernetesAPIError, ValidationFailed
from pyfaas.core.models import FunctionDeployment
from pyfaas.infra.gateway_rbac import PROVIDER_RULES
from pyfaas.provider.kubernetes import (
    KubernetesProvider,
    KubernetesProviderConfig,
    KubernetesProviderSettings,
)
from tests.support.kube_cluster import KubeCluster
from tests.support.kube_live import admin_client

pytestmark = pytest.mark.timeout(60)


def admin_cluster(kubeconfig: Path) -> tuple[str, bytes]:
    """The API server URL and CA certificate (PEM) of the admin kubeconfig's current context."""
    loaded = yaml.safe_load(kubeconfig.read_text())
    context = next(c for c in loaded["contexts"] if c["name"] == loaded["current-context"])["context"]
    cluster = next(c for c in loaded["clusters"] if c["name"] == context["cluster"])["cluster"]
    if "certificate-authority-data" in cluster:
        return cluster["server"], base64.b64decode(cluster["certificate-authority-data"])
    return cluster["server"], Path(cluster["certificate-authority"]).read_bytes()


class Account:
    """ServiceAccount ``pyfaas`` bound to cluster-admin, and its real tokens (TokenRequest)."""

    def __init__(self, admin: AsyncClient, namespace: str) -> None:
        self.admin, self.namespace = admin, namespace

    async def create(self) -> None:
        await self.admin.create(ServiceAccount(metadata=ObjectMeta(name="pyfaas")), namespace=self.namespace)

    async def recreate(self) -> None:
        """Delete and create again: tokens issued before are refused from now on (bound to the old UID)."""
        await self.admin.delete(ServiceAccount, "pyfaas", namespace=self.namespace)
        await self.create()

    async def token(self) -> str:
        spec = TokenRequestSpec(audiences=[], expirationSeconds=3600)
        request = ServiceAccount.Token(metadata=ObjectMeta(name="pyfaas"), spec=spec)
        issued = await self.admin.create(request, "pyfaas", namespace=self.namespace)
        assert issued.status is not None
        return issued.status.token


@pytest.fixture
async def account(kube_cluster: KubeCluster, kube_namespace: str) -> AsyncIterator[Account]:
    binding_name = f"{kube_namespace}-pyfaas"
    async with admin_client(kube_cluster.kubeconfig) as admin:
        account = Account(admin, kube_namespace)
        await account.create()
        binding = {
            "metadata": {"name": binding_name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "pyfaas", "namespace": kube_namespace}],
        }
        await admin.create(ClusterRoleBinding.from_dict(binding))
        try:
            yield account
        finally:
            try:
                await admin.delete(ClusterRoleBinding, binding_name)
            except ApiError as exc:
                if exc.status.code != 404:
                    raise


async def refused(server: str, ca: Path, token: str) -> bool:
    async with httpx.AsyncClient(verify=str(ca)) as client:
        response = await client.get(f"{server}/api", headers={"Authorization": f"Bearer {token}"})
        return response.status_code == 401


async def test_in_cluster_service_account_over_tls_with_a_rotated_token(
    kube_cluster: KubeCluster, kube_namespace: str, account: Account, tmp_path: Path
) -> None:
    server, ca = admin_cluster(kube_cluster.kubeconfig)
    address = urlsplit(server)
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "ca.crt").write_bytes(ca)
    first = await account.token()
    (folder / "token").write_text(first + "\n")
    (folder / "namespace").write_text(kube_namespace)
    settings = KubernetesProviderSettings.from_env(
        {"KUBERNETES_SERVICE_HOST": str(address.hostname), "KUBERNETES_SERVICE_PORT": str(address.port)}
    )
    config = settings.config()
    provider = KubernetesProvider(
        KubernetesProviderConfig(
            default_namespace=kube_namespace,
            in_cluster_host=config.in_cluster_host,
            in_cluster_port=config.in_cluster_port,
            service_account_dir=folder,
        )
    )
    await provider.start()
    try:
        await provider.health()
        assert provider.client.config.cluster.server == server.rstrip("/")

        # The token the provider holds stops working; the kubelet has written a new one into the file.
        await account.recreate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not await refused(server, folder / "ca.crt", first):  # the API server caches tokens for 10 s
            assert loop.time() < deadline, "the old token is still accepted after 30 s"
            await asyncio.sleep(0.2)
        (folder / "token").write_text(await account.token() + "\n")
        await provider.health()  # refused once, re-read the file, answered
        assert kube_namespace in await provider.list_namespaces()
    finally:
        await provider.close()


async def test_kubeconfig_context_with_a_token(
    kube_cluster: KubeCluster, kube_namespace: str, account: Account, tmp_path: Path
) -> None:
    token = await account.token()
    server, ca = admin_cluster(kube_cluster.kubeconfig)
    cluster = {"server": server, "certificate-authority-data": base64.b64encode(ca).decode()}
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "other",
        "clusters": [
            {"name": "test", "cluster": cluster},
            {"name": "elsewhere", "cluster": {"server": "https://127.0.0.1:9"}},
        ],
        "users": [{"name": "dev", "user": {"token": token}}, {"name": "nobody", "user": {"token": "wrong"}}],
        "contexts": [
            {"name": "pyfaas", "context": {"cluster": "test", "user": "dev", "namespace": kube_namespace}},
            {"name": "stranger", "context": {"cluster": "test", "user": "nobody"}},
            {"name": "other", "context": {"cluster": "elsewhere", "user": "dev"}},
        ],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    environment = {"KUBECONFIG": f"{path}:/nonexistent", "function_namespace": kube_namespace}

    provider = KubernetesProvider(
        KubernetesProviderSettings.from_env(environment | {"kube_context": "pyfaas"}).config()
    )
    await provider.start()
    try:
        assert kube_namespace in await provider.list_namespaces()
        await provider.health()
    finally:
        await provider.close()

    for context in ("stranger", "other"):  # a refused token, an API that is not there
        wrong = KubernetesProvider(
            KubernetesProviderSettings.from_env(environment | {"kube_context": context}).config()
        )
        with pytest.raises(KubernetesAPIError):
            await wrong.start()
        await wrong.close()


async def test_without_rights_on_namespaces_the_default_one_is_served(
    kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    """Only the Role the Pulumi program gives the gateway in its function namespace (PROVIDER_RULES), and no
    right to list or read namespaces: the default namespace is still served, nothing else is a function
    namespace. (The fake API server refused exactly those two verbs; here it is RBAC's own answer.)"""
    async with admin_client(kube_cluster.kubeconfig) as admin:
        account = Account(admin, kube_namespace)
        await account.create()
        role = {"metadata": {"name": "pyfaas"}, "rules": PROVIDER_RULES}
        await admin.create(Role.from_dict(role), namespace=kube_namespace)
        binding = {
            "metadata": {"name": "pyfaas"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pyfaas"},
            "subjects": [{"kind": "ServiceAccount", "name": "pyfaas", "namespace": kube_namespace}],
        }
        await admin.create(RoleBinding.from_dict(binding), namespace=kube_namespace)
        token = await account.token()
    server, ca = admin_cluster(kube_cluster.kubeconfig)
    cluster = {"server": server, "certificate-authority-data": base64.b64encode(ca).decode()}
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "gateway",
                "clusters": [{"name": "test", "cluster": cluster}],
                "users": [{"name": "gateway", "user": {"token": token}}],
                "contexts": [{"name": "gateway", "context": {"cluster": "test", "user": "gateway"}}],
            }
        )
    )
    environment = {
        "KUBECONFIG": str(path),
        "function_namespace": kube_namespace,
        "image_pull_policy": "Never",
    }
    provider = KubernetesProvider(KubernetesProviderSettings.from_env(environment).config())
    await provider.start()
    try:
        assert await provider.list_namespaces() == [kube_namespace]
        await provider.health()
        await provider.deploy(FunctionDeployment(service="fn", image="localhost/pyfaas-test/absent:1"))
        assert [f.name for f in await provider.list_functions(kube_namespace)] == ["fn"]
        with pytest.raises(ValidationFailed):
            await provider.deploy(FunctionDeployment(service="fn", image="x:1", namespace="kube-system"))
    finally:
        await provider.close()
