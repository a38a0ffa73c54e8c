"""KubernetesProvider behaviour the shared contract suite does not cover, against the test API server."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from pyfaas.core.errors import (
    FunctionExists,
    FunctionNotFound,
    KubernetesAPIError,
    NamespaceNotFound,
    SecretExists,
    SecretNotFound,
    ValidationFailed,
)
from pyfaas.core.models import FunctionDeployment, FunctionNamespace, Secret
from pyfaas.provider.base import Replica
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderConfig
from tests.support.kube_api import kube_api_server
from tests.support.kube_provider import KubeStack, kube_stack

pytestmark = pytest.mark.timeout(90)

NS = "openfaas-fn"
T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], within: float = 20) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if check(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"not reached in {within}s: {value!r}"
        await asyncio.sleep(0.02)


async def ready(provider: KubernetesProvider, name: str, count: int, namespace: str = NS) -> list[Replica]:
    return await eventually(lambda: provider.ready_replicas(name, namespace), lambda r: len(r) == count)


def fn(name: str = "fn", **fields: Any) -> FunctionDeployment:
    return FunctionDeployment(service=name, image=f"example/{name}:1", envProcess="cat", **fields)


@pytest.fixture
async def virtual(tmp_path: Path) -> Any:
    """Pods without processes (ready at once): fast tests of bookkeeping that never invoke."""
    async with kube_stack(tmp_path, run_pods=False) as running:
        yield running
        running.assert_every_body_valid()


def deployment(stack: KubeStack, name: str, namespace: str = NS) -> dict[str, Any]:
    return stack.server.objects["deployments"][(namespace, name)]


async def test_invalid_body_is_refused_by_the_api_server_and_reported_as_validation(tmp_path: Path) -> None:
    async with kube_stack(tmp_path, run_pods=False) as stack:
        # pyfaas accepts any label value; Kubernetes does not (63 characters, no spaces).
        with pytest.raises(ValidationFailed) as raised:
            await stack.provider.deploy(fn(labels={"team": "not a valid value"}))
        assert "not a valid value" in raised.value.message
        [(method, path, errors)] = stack.server.rejected
        assert method == "POST" and path.endswith("/deployments")
        assert any(e.startswith("[1.30]") for e in errors) and any(e.startswith("[1.37]") for e in errors)

        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "strinData": {"a": "b"}}
        async with httpx.AsyncClient(base_url=stack.server.url) as client:
            response = await client.post(f"/api/v1/namespaces/{NS}/secrets", json=body)
        assert response.status_code == 422
        assert response.json()["reason"] == "Invalid" and "strinData" in response.json()["message"]


async def test_ready_replicas_are_served_from_memory(virtual: KubeStack) -> None:
    provider, server = virtual.provider, virtual.server
    await provider.deploy(fn())
    await ready(provider, "fn", 1)
    before = len(server.received)
    for _ in range(200):
        assert len(await provider.ready_replicas("fn", NS)) == 1
    assert len(server.received) == before


async def test_replicas_persist_across_slice_changes_and_listeners_hear_changes(virtual: KubeStack) -> None:
    provider = virtual.provider
    heard: list[tuple[str, str, list[str]]] = []
    provider.subscribe(lambda name, ns, replicas: heard.append((name, ns, sorted(r.url for r in replicas))))
    await provider.deploy(fn())
    [first] = await ready(provider, "fn", 1)
    first.in_flight = 5  # the gateway's count on this replica
    await provider.scale("fn", NS, 3)
    three = await ready(provider, "fn", 3)
    assert any(r is first for r in three) and first.in_flight == 5
    assert len({r.url for r in three}) == 3
    await provider.scale("fn", NS, 1)
    [survivor] = await ready(provider, "fn", 1)
    assert survivor in three
    sizes = [len(urls) for _, _, urls in heard]
    assert heard[0] == ("fn", NS, [first.url]) and 3 in sizes
    assert heard[-1] == ("fn", NS, [survivor.url])
    assert all(a != b for a, b in itertools.pairwise(heard)), "only changes are announced"
    assert all(name == "fn" and ns == NS for name, ns, _ in heard)


async def test_the_watch_recovers_from_410_gone(virtual: KubeStack) -> None:
    provider, server = virtual.provider, virtual.server
    await provider.deploy(fn())
    await ready(provider, "fn", 1)
    watcher = provider._watchers[NS]
    lists_before = watcher.relists
    server.expire_watches()
    await provider.scale("fn", NS, 2)
    await ready(provider, "fn", 2)
    assert watcher.relists > lists_before


async def test_scale_has_no_cap_and_allows_zero(virtual: KubeStack) -> None:
    provider = virtual.provider
    await provider.deploy(fn())
    await provider.scale("fn", NS, 7)
    await ready(provider, "fn", 7)
    status = await eventually(lambda: provider.get_function("fn", NS), lambda s: s.availableReplicas == 7)
    assert status.replicas == 7
    await provider.scale("fn", NS, 0)
    assert await ready(provider, "fn", 0) == []
    assert (await provider.get_function("fn", NS)).replicas == 0
    assert [b for m, p, b in virtual.server.received if b and b.get("kind") == "Scale"][-1]["spec"] == {
        "replicas": 0
    }
    with pytest.raises(FunctionNotFound):
        await provider.scale("absent", NS, 1)


async def test_update_keeps_the_replica_count_and_forces_a_rollout(virtual: KubeStack) -> None:
    provider = virtual.provider
    await provider.deploy(fn(labels={"team": "a"}))
    await provider.scale("fn", NS, 3)
    await provider.update(fn(labels={"team": "b"}))
    body = deployment(virtual, "fn")
    assert body["spec"]["replicas"] == 3
    assert body["spec"]["template"]["metadata"]["labels"]["uid"].isdigit()
    assert (await provider.get_function("fn", NS)).labels == {"team": "b"}
    with pytest.raises(FunctionNotFound):
        await provider.update(fn("absent"))


async def test_scale_to_zero_functions_start_at_zero(virtual: KubeStack) -> None:
    labels = {"com.openfaas.scale.min": "0", "com.openfaas.scale.zero": "true"}
    await virtual.provider.deploy(fn(labels=labels))
    assert deployment(virtual, "fn")["spec"]["replicas"] == 0
    assert await virtual.provider.ready_replicas("fn", NS) == []


async def test_delete_is_foreground_and_a_redeploy_waits_for_it(stack: KubeStack) -> None:
    provider, server = stack.provider, stack.server
    await provider.deploy(fn())
    await ready(provider, "fn", 1)
    await provider.delete("fn", NS)
    terminating = server.objects["deployments"].get((NS, "fn"))
    assert terminating is not None, "foreground deletion keeps the Deployment until its pods are gone"
    assert terminating["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert terminating["metadata"]["deletionTimestamp"]
    assert any(p.endswith("/deployments/fn") and m == "DELETE" for m, p, _ in server.received)
    with pytest.raises(FunctionNotFound):
        await provider.ready_replicas("fn", NS)
    await provider.deploy(fn())  # waits until the old Deployment is gone
    assert "deletionTimestamp" not in deployment(stack, "fn")["metadata"]
    await ready(provider, "fn", 1)


async def test_several_labelled_namespaces(virtual: KubeStack) -> None:
    provider, server = virtual.provider, virtual.server
    for name in ("dev", "staging"):
        await provider.create_namespace(FunctionNamespace(name=name, labels={"team": "a"}))
        assert server.objects["namespaces"][("", name)]["metadata"]["labels"]["openfaas"] == "1"
        await provider.deploy(fn(namespace=name))
        await ready(provider, "fn", 1, namespace=name)
    assert {"dev", "staging", NS} <= set(await provider.list_namespaces())
    assert (await provider.get_namespace("dev")).labels == {"team": "a"}
    assert [s.name for s in await provider.list_functions("staging")] == ["fn"]

    async with httpx.AsyncClient(base_url=server.url) as client:  # a namespace not labelled for functions
        unlabelled = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}
        assert (await client.post("/api/v1/namespaces", json=unlabelled)).status_code == 201
    assert "other" not in await provider.list_namespaces()
    with pytest.raises(ValidationFailed) as raised:
        await provider.deploy(fn(namespace="other"))
    assert raised.value.field == "namespace"
    with pytest.raises(NamespaceNotFound):
        await provider.get_namespace("other")

    await provider.delete("fn", "dev")
    await provider.delete_namespace("dev")
    assert "dev" not in await provider.list_namespaces()
    assert ("", "dev") not in server.objects["namespaces"]


async def test_registry_secrets_become_image_pull_secrets(virtual: KubeStack) -> None:
    provider, server = virtual.provider, virtual.server
    config = base64.b64encode(b'{"auths": {}}').decode()
    registry = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "registry"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": config},
    }
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.post(f"/api/v1/namespaces/{NS}/secrets", json=registry)).status_code == 201
    await provider.create_secret(Secret(name="api-key", value="v"))
    await provider.deploy(fn(secrets=["registry", "api-key"]))
    pod = deployment(virtual, "fn")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert [s["secret"]["name"] for s in pod["volumes"][0]["projected"]["sources"]] == ["api-key"]
    assert (await provider.get_function("fn", NS)).secrets == ["api-key", "registry"]


async def test_secrets_are_labelled_and_faas_netes_secrets_are_listed(virtual: KubeStack) -> None:
    provider, server = virtual.provider, virtual.server
    await provider.create_secret(Secret(name="mine", value="v"))
    assert server.objects["secrets"][(NS, "mine")]["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "pyfaas"
    }
    with pytest.raises(SecretExists):
        await provider.create_secret(Secret(name="mine", value="v"))
    async with httpx.AsyncClient(base_url=server.url) as client:
        for name, labels in (("theirs", {"app.kubernetes.io/managed-by": "openfaas"}), ("unmanaged", {})):
            secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": labels}}
            assert (await client.post(f"/api/v1/namespaces/{NS}/secrets", json=secret)).status_code == 201
    assert [s.name for s in await provider.list_secrets(NS)] == ["mine", "theirs"]
    with pytest.raises(SecretNotFound):
        await provider.delete_secret("unmanaged", NS)
    with pytest.raises(SecretNotFound):
        await provider.update_secret(Secret(name="unmanaged", value="x"))
    assert (NS, "unmanaged") in server.objects["secrets"]
    await provider.delete_secret("theirs", NS)


async def test_an_unreachable_api_is_a_kubernetes_api_error(tmp_path: Path) -> None:
    async with kube_stack(tmp_path, run_pods=False) as stack:
        url = stack.server.url
    provider = KubernetesProvider(KubernetesProviderConfig(api_server=url, request_timeout=2))
    with pytest.raises(KubernetesAPIError):
        await provider.start()
    await provider.close()


async def test_without_permission_to_list_namespaces_the_default_one_is_served(tmp_path: Path) -> None:
    async with kube_api_server(tmp_path / "api", run_pods=False) as server:
        server.forbidden |= {("list", "namespaces"), ("get", "namespaces")}
        provider = KubernetesProvider(KubernetesProviderConfig(api_server=server.url))
        await provider.start()
        try:
            assert await provider.list_namespaces() == [NS]
            await provider.health()
            await provider.deploy(fn())
            await ready(provider, "fn", 1)
            with pytest.raises(ValidationFailed):
                await provider.deploy(fn(namespace="kube-system"))
        finally:
            await provider.close()


async def test_a_deployment_that_is_not_a_function_is_neither_listed_nor_overwritten(
    virtual: KubeStack,
) -> None:
    provider, server = virtual.provider, virtual.server
    foreign = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "db"},
        "spec": {
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "postgres:16"}]},
            },
        },
    }
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (
            await client.post(f"/apis/apps/v1/namespaces/{NS}/deployments", json=foreign)
        ).status_code == 201
    assert await provider.list_functions(NS) == []
    with pytest.raises(FunctionNotFound):
        await provider.get_function("db", NS)
    with pytest.raises(FunctionNotFound):
        await provider.delete("db", NS)
    with pytest.raises(FunctionExists):
        await provider.deploy(fn("db"))
    assert deployment(virtual, "db")["spec"]["template"]["spec"]["containers"][0]["image"] == "postgres:16"


async def test_names_that_cannot_be_objects_never_reach_the_api(virtual: KubeStack) -> None:
    provider, server = virtual.provider, virtual.server
    before = len(server.received)
    for name, namespace in (("../../namespaces", NS), ("fn", "../x"), ("Fn_Upper", NS), ("fn", "a/b")):
        with pytest.raises(FunctionNotFound):
            await provider.ready_replicas(name, namespace)
        with pytest.raises(FunctionNotFound):
            await provider.get_function(name, namespace)
        with pytest.raises(FunctionNotFound):
            await provider.scale(name, namespace, 1)
        with pytest.raises(FunctionNotFound):
            await provider.delete(name, namespace)
    assert len(server.received) == before


async def test_a_watch_the_server_ends_resumes_from_its_last_version(tmp_path: Path) -> None:
    async with kube_stack(tmp_path, run_pods=False, watch_server_timeout=1) as stack:
        provider, server = stack.provider, stack.server
        await provider.deploy(fn())
        await ready(provider, "fn", 1)

        def watches() -> list[str]:
            return [path for _, path, _ in server.received if "endpointslices?watch" in path]

        before = len(watches())
        await asyncio.sleep(2.5)  # the server ends each watch after timeoutSeconds=1
        await provider.scale("fn", NS, 2)
        await ready(provider, "fn", 2)
        resumed = watches()[before:]
        assert len(resumed) >= 2
        assert all(not path.endswith("resourceVersion=") for path in resumed), "resumed from a version"
        assert provider._watchers[NS].relists == 1, "no re-list was needed"
        stack.assert_every_body_valid()
