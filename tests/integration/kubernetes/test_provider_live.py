"""KubernetesProvider behaviour beyond the shared contract suite, and the contract's tests that need a
function serving in a pod (secret files, logs), against the session's real cluster.

Moved here from the schema-checking fake API server (``test_provider.py`` keeps what only the fake can do:
forced faults and counting requests). Each test has its own function namespace; functions that must serve
use the python3-http image ``echo_images`` builds, the others an image that is never pulled (their pods
stay in ``ErrImagePull``: registry pulls are refused on this machine).
"""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx
import pytest
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace
from lightkube.resources.core_v1 import Secret as SecretObject

from pyfaas.core.errors import (
    FunctionExists,
    FunctionNotFound,
    NamespaceNotFound,
    SecretExists,
    SecretNotFound,
    ValidationFailed,
)
from pyfaas.core.k8s import FunctionWorkloadOptions
from pyfaas.core.models import FunctionDeployment, FunctionNamespace, Secret
from pyfaas.core.replica_key import REPLICA_KEY_HEADER
from pyfaas.provider.base import Replica
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderConfig
from tests.integration.provider.helpers import check_logs
from tests.support.kube_cluster import KubeCluster
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(180)

T = TypeVar("T")
NEVER_PULLED = "localhost/pyfaas-test/absent:1"
FUNCTION_ENV = {"healthcheck_interval": "2s"}


def fn(name: str = "fn", image: str = NEVER_PULLED, **fields: Any) -> FunctionDeployment:
    return FunctionDeployment(service=name, image=image, **fields)


@pytest.fixture
async def provider(kube_cluster: KubeCluster, kube_namespace: str) -> AsyncIterator[KubernetesProvider]:
    workload = FunctionWorkloadOptions(
        image_pull_policy="IfNotPresent", probe_initial_delay_seconds=0, probe_period_seconds=1
    )
    config = KubernetesProviderConfig(
        kubeconfig=kube_cluster.kubeconfig,
        default_namespace=kube_namespace,
        workload=workload,
        watch_retry_max=0.5,
    )
    running = KubernetesProvider(config)
    await running.start()
    try:
        yield running
    finally:
        await running.close()


async def ready(provider: KubernetesProvider, name: str, count: int, namespace: str) -> list[Replica]:
    return await eventually(
        lambda: provider.ready_replicas(name, namespace), lambda r: len(r) == count, 90, interval=0.05
    )


async def deployment(admin: AsyncClient, name: str, namespace: str) -> Deployment:
    return await admin.get(Deployment, name, namespace=namespace)


async def test_a_value_kubernetes_refuses_is_a_validation_error(
    provider: KubernetesProvider, kube_namespace: str
) -> None:
    # pyfaas accepts any label value; Kubernetes does not (63 characters, no spaces).
    with pytest.raises(ValidationFailed) as raised:
        await provider.deploy(fn(labels={"team": "not a valid value"}))
    assert "not a valid value" in raised.value.message
    assert await provider.list_functions(kube_namespace) == []


async def test_replicas_persist_across_slice_changes_and_listeners_hear_changes(
    provider: KubernetesProvider, kube_namespace: str, echo_images: tuple[str, str]
) -> None:
    ns = kube_namespace
    heard: list[tuple[str, str, list[str]]] = []
    provider.subscribe(
        lambda name, space, replicas: heard.append((name, space, sorted(r.url for r in replicas)))
    )
    await provider.deploy(fn(image=echo_images[0], envVars=FUNCTION_ENV))
    [first] = await ready(provider, "fn", 1, ns)
    first.in_flight = 5  # the gateway's count on this replica
    await provider.scale("fn", ns, 3)
    three = await ready(provider, "fn", 3, ns)
    assert any(r is first for r in three) and first.in_flight == 5
    assert len({r.url for r in three}) == 3
    await provider.scale("fn", ns, 1)
    [survivor] = await ready(provider, "fn", 1, ns)
    assert survivor in three
    sizes = [len(urls) for _, _, urls in heard]
    assert heard[0] == ("fn", ns, [first.url]) and 3 in sizes
    assert heard[-1] == ("fn", ns, [survivor.url])
    assert all(a != b for a, b in itertools.pairwise(heard)), "only changes are announced"
    assert all(name == "fn" and space == ns for name, space, _ in heard)


async def test_scale_has_no_cap_and_allows_zero(
    provider: KubernetesProvider, admin: AsyncClient, kube_namespace: str
) -> None:
    await provider.deploy(fn())
    await provider.scale("fn", kube_namespace, 7)
    assert (await provider.get_function("fn", kube_namespace)).replicas == 7
    assert (await deployment(admin, "fn", kube_namespace)).spec.replicas == 7  # type: ignore[union-attr]
    await provider.scale("fn", kube_namespace, 0)
    assert (await provider.get_function("fn", kube_namespace)).replicas == 0
    assert await provider.ready_replicas("fn", kube_namespace) == []
    with pytest.raises(FunctionNotFound):
        await provider.scale("absent", kube_namespace, 1)


async def test_update_keeps_the_replica_count_and_forces_a_rollout(
    provider: KubernetesProvider, admin: AsyncClient, kube_namespace: str
) -> None:
    await provider.deploy(fn(labels={"team": "a"}))
    await provider.scale("fn", kube_namespace, 3)
    before = await deployment(admin, "fn", kube_namespace)
    await provider.update(fn(labels={"team": "b"}))
    after = await deployment(admin, "fn", kube_namespace)
    assert after.spec is not None and before.spec is not None
    assert after.spec.replicas == 3
    old_uid = before.spec.template.metadata.labels.get("uid")  # type: ignore[union-attr]
    new_uid = after.spec.template.metadata.labels["uid"]  # type: ignore[union-attr,index]
    assert new_uid.isdigit() and new_uid != old_uid  # a changed template: the pods roll
    assert (await provider.get_function("fn", kube_namespace)).labels == {"team": "b"}
    with pytest.raises(FunctionNotFound):
        await provider.update(fn("absent"))


async def test_scale_to_zero_functions_start_at_zero(
    provider: KubernetesProvider, admin: AsyncClient, kube_namespace: str
) -> None:
    labels = {"com.openfaas.scale.min": "0", "com.openfaas.scale.zero": "true"}
    await provider.deploy(fn(labels=labels))
    assert (await deployment(admin, "fn", kube_namespace)).spec.replicas == 0  # type: ignore[union-attr]
    assert await provider.ready_replicas("fn", kube_namespace) == []


async def test_delete_is_foreground_and_a_redeploy_waits_for_it(
    provider: KubernetesProvider, admin: AsyncClient, kube_namespace: str, echo_images: tuple[str, str]
) -> None:
    ns = kube_namespace
    spec = fn(image=echo_images[0], envVars=FUNCTION_ENV)  # its pod serves 2 s after SIGTERM
    await provider.deploy(spec)
    await ready(provider, "fn", 1, ns)
    await provider.delete("fn", ns)
    terminating = await deployment(admin, "fn", ns)
    assert terminating.metadata is not None, (
        "foreground deletion keeps the Deployment until its pods are gone"
    )
    assert terminating.metadata.finalizers == ["foregroundDeletion"]
    assert terminating.metadata.deletionTimestamp is not None
    with pytest.raises(FunctionNotFound):
        await provider.ready_replicas("fn", ns)
    await provider.deploy(spec)  # waits until the old Deployment is gone
    assert (await deployment(admin, "fn", ns)).metadata.deletionTimestamp is None  # type: ignore[union-attr]
    await ready(provider, "fn", 1, ns)


async def test_several_labelled_namespaces(
    provider: KubernetesProvider, admin: AsyncClient, kube_namespace: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    dev, staging, other = f"k1-dev-{suffix}", f"k1-staging-{suffix}", f"k1-other-{suffix}"
    try:
        for name in (dev, staging):
            await provider.create_namespace(FunctionNamespace(name=name, labels={"team": "a"}))
            labels = (await admin.get(Namespace, name)).metadata.labels  # type: ignore[union-attr]
            assert labels is not None and labels["openfaas"] == "1"
            await provider.deploy(fn(namespace=name))
        assert {dev, staging, kube_namespace} <= set(await provider.list_namespaces())
        assert (await provider.get_namespace(dev)).labels == {"team": "a"}
        assert [s.name for s in await provider.list_functions(staging)] == ["fn"]

        await admin.create(Namespace.from_dict({"metadata": {"name": other}}))  # not labelled for functions
        assert other not in await provider.list_namespaces()
        with pytest.raises(ValidationFailed) as raised:
            await provider.deploy(fn(namespace=other))
        assert raised.value.field == "namespace"
        with pytest.raises(NamespaceNotFound):
            await provider.get_namespace(other)

        await provider.delete("fn", dev)
        await provider.delete_namespace(dev)
        assert dev not in await provider.list_namespaces()
        with pytest.raises(NamespaceNotFound):
            await provider.get_namespace(dev)
    finally:
        for name in (dev, staging, other):
            try:
                await admin.delete(Namespace, name)
            except ApiError as exc:
                if exc.status.code != 404:
                    raise


async def test_registry_secrets_become_image_pull_secrets(
    provider: KubernetesProvider, admin: AsyncClient, kube_namespace: str
) -> None:
    config = base64.b64encode(b'{"auths": {}}').decode()
    registry = {
        "metadata": {"name": "registry"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": config},
    }
    await admin.create(SecretObject.from_dict(registry), namespace=kube_namespace)
    await provider.create_secret(Secret(name="api-key", value="v"))
    await provider.deploy(fn(secrets=["registry", "api-key"]))
    pod = (await deployment(admin, "fn", kube_namespace)).spec.template.spec  # type: ignore[union-attr]
    assert pod is not None and pod.volumes is not None
    assert [s.name for s in pod.imagePullSecrets or []] == ["registry"]
    projected = pod.volumes[0].projected
    assert projected is not None
    assert [s.secret.name for s in projected.sources if s.secret] == ["api-key"]
    assert (await provider.get_function("fn", kube_namespace)).secrets == ["api-key", "registry"]


async def test_secrets_are_labelled_and_faas_netes_secrets_are_listed(
    provider: KubernetesProvider, admin: AsyncClient, kube_namespace: str
) -> None:
    ns = kube_namespace
    await provider.create_secret(Secret(name="mine", value="v"))
    mine = await admin.get(SecretObject, "mine", namespace=ns)
    assert mine.metadata is not None and mine.metadata.labels == {"app.kubernetes.io/managed-by": "pyfaas"}
    with pytest.raises(SecretExists):
        await provider.create_secret(Secret(name="mine", value="v"))
    for name, labels in (("theirs", {"app.kubernetes.io/managed-by": "openfaas"}), ("unmanaged", {})):
        await admin.create(
            SecretObject.from_dict({"metadata": {"name": name, "labels": labels}}), namespace=ns
        )
    assert [s.name for s in await provider.list_secrets(ns)] == [
        "mine",
        "theirs",
    ]  # not the 1.24 token secret
    with pytest.raises(SecretNotFound):
        await provider.delete_secret("unmanaged", ns)
    with pytest.raises(SecretNotFound):
        await provider.update_secret(Secret(name="unmanaged", value="x"))
    assert (await admin.get(SecretObject, "unmanaged", namespace=ns)).metadata is not None
    await provider.delete_secret("theirs", ns)
    assert [s.name for s in await provider.list_secrets(ns)] == ["mine"]


async def test_a_deployment_that_is_not_a_function_is_neither_listed_nor_overwritten(
    provider: KubernetesProvider, admin: AsyncClient, kube_namespace: str
) -> None:
    ns = kube_namespace
    foreign = {
        "metadata": {"name": "db"},
        "spec": {
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "localhost/postgres:16"}]},
            },
        },
    }
    await admin.create(Deployment.from_dict(foreign), namespace=ns)
    assert await provider.list_functions(ns) == []
    with pytest.raises(FunctionNotFound):
        await provider.get_function("db", ns)
    with pytest.raises(FunctionNotFound):
        await provider.delete("db", ns)
    with pytest.raises(FunctionExists):
        await provider.deploy(fn("db"))
    containers = (await deployment(admin, "db", ns)).spec.template.spec.containers  # type: ignore[union-attr]
    assert containers[0].image == "localhost/postgres:16"


async def invoke(replica: Replica, body: str) -> httpx.Response:
    """Straight to the pod (the host reaches pod IPs over the bridge), with the key the gateway sends."""
    headers = {} if replica.key is None else {REPLICA_KEY_HEADER: replica.key}
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(replica.url + "/", content=body.encode(), headers=headers)


async def test_function_reads_only_its_secrets_as_files(
    provider: KubernetesProvider, kube_namespace: str, echo_images: tuple[str, str]
) -> None:
    """The contract's secret-file test in a pod. Unlike local mode, a changed secret reaches a running pod
    only at the kubelet's next sync of its volumes (about a minute), so that part is not timed here."""
    await provider.create_secret(Secret(name="api-key", value="one"))
    await provider.create_secret(Secret(name="other", value="not yours"))
    await provider.deploy(fn(image=echo_images[0], secrets=["api-key"], envVars=FUNCTION_ENV))
    [replica] = await ready(provider, "fn", 1, kube_namespace)
    answer = await invoke(replica, "secret:api-key")
    assert (answer.status_code, answer.text) == (200, "one")
    assert (await invoke(replica, "secret:other")).status_code == 404


async def test_logs_tail_since_and_follow(
    provider: KubernetesProvider, kube_namespace: str, echo_images: tuple[str, str]
) -> None:
    """The contract's log test, reading what the kubelet kept of a real container's output."""
    ns = kube_namespace
    await provider.deploy(fn("talk", image=echo_images[0], envVars=FUNCTION_ENV))
    [replica] = await ready(provider, "talk", 1, ns)
    for word in ("a", "b", "c"):
        assert (await invoke(replica, word)).status_code == 200

    await check_logs(
        provider, "talk", ns, line="called with ", say=lambda word: invoke(replica, word), within=30
    )
