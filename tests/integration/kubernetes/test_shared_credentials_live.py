"""Private functions' credentials shared by two gateway replicas on the real test cluster: each replica acts
as the gateway's ServiceAccount with exactly the Role the Pulumi program grants in its namespace
(``pyfaas.infra.gateway_rbac.CREDENTIAL_RULES``), through the real API server's optimistic concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Secret
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from pyfaas.gateway.invocation.credentials import (
    CREDENTIALS_SECRET,
    CredentialStore,
    SharedBackend,
    Verdict,
    function_audience,
)
from pyfaas.infra.gateway_rbac import CREDENTIAL_RULES
from pyfaas.provider.kubernetes.platform_secret import PlatformSecret
from tests.integration.kubernetes.live import (
    admin_client,
    eventually,
    scratch_namespace,
    service_account_kubeconfig,
)
from tests.support.kube_cluster import KubeCluster

pytestmark = pytest.mark.timeout(300)
NS = "openfaas-fn"


async def _seen(store: CredentialStore, key: str) -> Verdict:
    verdict = store.verify(key, "fn", NS)
    if verdict is Verdict.INVALID and await store.refreshed():
        verdict = store.verify(key, "fn", NS)
    return verdict


async def _client(stack: AsyncExitStack, kubeconfig: Path) -> AsyncClient:
    client = AsyncClient(KubeConfig.from_file(kubeconfig), field_manager="pyfaas-gateway", trust_env=False)
    stack.push_async_callback(client.close)
    return client


async def _replica(stack: AsyncExitStack, client: AsyncClient, namespace: str) -> CredentialStore:
    store = CredentialStore(SharedBackend(PlatformSecret(lambda: client, namespace, CREDENTIALS_SECRET)))
    await store.start()
    stack.push_async_callback(store.close)
    return store


@pytest.fixture
async def control(kube_cluster: KubeCluster, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A control namespace with the gateway's ServiceAccount, its credentials Role and another Secret."""
    async with (
        admin_client(kube_cluster.kubeconfig) as admin,
        scratch_namespace(admin, function_namespace=False) as namespace,
    ):
        rules = {
            "metadata": {"name": "pyfaas-gateway-credentials", "namespace": namespace},
            "rules": CREDENTIAL_RULES,
        }
        await admin.create(Role.from_dict(rules))
        binding = {
            "metadata": {"name": "pyfaas-gateway-credentials", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pyfaas-gateway-credentials",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "gateway", "namespace": namespace}],
        }
        await admin.create(RoleBinding.from_dict(binding))
        other = {"metadata": {"name": "basic-auth", "namespace": namespace}, "stringData": {"password": "x"}}
        await admin.create(Secret.from_dict(other))
        config = await service_account_kubeconfig(
            admin, kube_cluster.kubeconfig, namespace, "gateway", tmp_path / "gateway.kubeconfig"
        )
        yield namespace, config


async def test_two_gateway_replicas_share_credentials_with_only_their_role(control: tuple[str, Path]) -> None:
    namespace, kubeconfig = control
    async with AsyncExitStack() as stack:
        one, two = await _client(stack, kubeconfig), await _client(stack, kubeconfig)
        a = await _replica(stack, one, namespace)
        b = await _replica(stack, two, namespace)
        assert [k.kid for k in a.ring] == [k.kid for k in b.ring]

        token, _ = await a.mint(function_audience("fn", NS), 60, {"async": True})
        assert b.verify(token, "fn", NS) is Verdict.VALID  # the queued call's token, checked on the other

        record, key = await a.create_key("fn", NS, "ci")
        await eventually(lambda: _seen(b, key), lambda verdict: verdict is Verdict.VALID, 10)

        (first, key_one), (second, key_two) = await asyncio.gather(
            a.create_key("fn", NS, "one"), b.create_key("fn", NS, "two")
        )  # the real API server refuses the stale write (409): it is re-applied
        restarted = await _replica(stack, one, namespace)
        assert {r.id for r in restarted.keys_of("fn", NS)} == {record.id, first.id, second.id}
        assert restarted.verify(key_one, "fn", NS) is restarted.verify(key_two, "fn", NS) is Verdict.VALID

        new = await b.rotate()
        fresh, _ = await b.mint(function_audience("fn", NS), 60)
        await eventually(lambda: _seen(a, fresh), lambda verdict: verdict is Verdict.VALID, 10)
        assert a.ring[-1].kid == new.kid and a.verify(token, "fn", NS) is Verdict.VALID

        assert await a.revoke("fn", NS, record.id)
        await eventually(lambda: _seen(b, key), lambda verdict: verdict is Verdict.INVALID, 10)

        # the Role reaches this one Secret only: the namespace's other Secret stays out of reach
        with pytest.raises(ApiError) as denied:
            await one.get(Secret, "basic-auth", namespace=namespace)
        assert denied.value.status.code == 403
