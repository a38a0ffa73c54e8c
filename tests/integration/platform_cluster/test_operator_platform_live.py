"""Operator mode inside the real test cluster, deployed as ``pulumi up`` deploys it.

The Pulumi program is rendered with ``pyfaas:operator.enabled`` and ``pyfaas:functionsAs: crd`` and applied
(:mod:`tests.support.kube_platform`): the Function CRD, ``pyfaas-operator`` as a Deployment of the platform
image (two replicas, Lease leader election, read-only root filesystem) with its ServiceAccount and RBAC, and
the gateway in operator mode. No operator runs on the host: whatever reconciles here is the operator's pod.
A Function applied with kubectl (faas-cli generate's shape) becomes a ready Deployment and Service that
answer through the gateway; ``kubectl scale function/NAME`` scales it; deleting it removes its objects; a
function deployed through the gateway's REST API is a Function object the operator reconciles; and deleting
the leader's pod (SIGTERM) releases the Lease to another replica, which reconciles from then on. The pods'
logs show no request refused (RBAC) and no error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from lightkube import ApiError, AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Pod, Service

from tests.support.kube_cluster import KubeCluster
from tests.support.kube_dns import ServiceDns
from tests.support.kube_live import admin_client
from tests.support.kube_platform import Platform, PlatformImages, deployed_platform
from tests.support.operator_cluster import FunctionResource, wait_for
from tests.support.operator_process import kubectl

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.asyncio(loop_scope="module")]

CONFIG = {"pyfaas:operator": {"enabled": True}, "pyfaas:functionsAs": "crd"}
OPERATOR = "pyfaas-operator"
OPERATOR_PODS: dict[str, Any] = {"app.kubernetes.io/name": "operator"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(cluster: KubeCluster) -> AsyncIterator[AsyncClient]:
    async with admin_client(cluster.kubeconfig) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    admin: AsyncClient, cluster: KubeCluster, images: PlatformImages, dns: ServiceDns
) -> AsyncIterator[Platform]:
    async with deployed_platform(admin, cluster, images, CONFIG, prefix="o") as platform:
        timings = platform.timings
        print(f"\noperator platform: applied in {timings['apply']:.1f} s, ready in {timings['ready']:.1f} s")
        yield platform


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(stack: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, auth=stack.auth, timeout=30, trust_env=False
    ) as client:
        yield client


def manifest(name: str, namespace: str, image: str) -> str:
    """A Function as ``faas-cli generate`` prints it."""
    body = {
        "apiVersion": "openfaas.com/v1",
        "kind": "Function",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"name": name, "image": image, "labels": {"com.openfaas.scale.min": "1"}},
    }
    return str(yaml.safe_dump(body))


async def _get(admin: AsyncClient, kind: type[Any], name: str, namespace: str) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = (await admin.get(kind, name, namespace=namespace)).to_dict()
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
    return body


async def _ready(admin: AsyncClient, name: str, namespace: str, replicas: int) -> dict[str, Any] | None:
    """The Function once its status describes its current spec as Ready with ``replicas`` available."""
    body = await _get(admin, FunctionResource, name, namespace)
    status = (body or {}).get("status") or {}
    if body is None or status.get("observedGeneration") != body["metadata"]["generation"]:
        return None
    ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready" and c["status"] == "True"]
    return body if ready and status.get("availableReplicas") == replicas else None


async def _answers(gateway: httpx.AsyncClient, name: str, body: bytes) -> str | None:
    answer = await gateway.post(f"/function/{name}", content=body)
    return answer.text if answer.status_code == 200 else None


async def _holder(admin: AsyncClient, namespace: str) -> str | None:
    lease = await _get(admin, Lease, OPERATOR, namespace)
    holder: str | None = ((lease or {}).get("spec") or {}).get("holderIdentity")
    return holder


async def _gone(admin: AsyncClient, name: str, namespace: str) -> bool:
    return all([await _get(admin, kind, name, namespace) is None for kind in (Deployment, Service)])


async def test_the_operator_runs_as_the_programs_pods_and_one_holds_the_lease(
    admin: AsyncClient, stack: Platform
) -> None:
    deployment = await _get(admin, Deployment, OPERATOR, stack.control)
    assert deployment is not None
    assert deployment["status"]["readyReplicas"] == deployment["spec"]["replicas"] == 2
    pods = [p.to_dict() async for p in admin.list(Pod, namespace=stack.control, labels=OPERATOR_PODS)]
    names = {p["metadata"]["name"] for p in pods}
    assert len(names) == 2
    for pod in pods:
        (container,) = pod["spec"]["containers"]
        assert container["command"] == [OPERATOR]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert all(s["ready"] and s["restartCount"] == 0 for s in pod["status"]["containerStatuses"])

    holder = await wait_for(lambda: _holder(admin, stack.control), what="a replica to hold the Lease")
    assert holder in names


async def test_a_function_applied_with_kubectl_is_reconciled_by_the_operator_pod(
    admin: AsyncClient,
    cluster: KubeCluster,
    stack: Platform,
    gateway: httpx.AsyncClient,
    echo_images: tuple[str, str],
) -> None:
    kubeconfig, ns = cluster.kubeconfig, stack.functions
    kubectl(kubeconfig, "apply", "-f", "-", input=manifest("applied", ns, echo_images[0]))
    body = await wait_for(lambda: _ready(admin, "applied", ns, 1), what="applied to be Ready", within=120)
    assert body is not None
    for kind in (Deployment, Service):
        child = await _get(admin, kind, "applied", ns)
        assert child is not None
        (owner,) = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"]) == ("Function", body["metadata"]["uid"])
        managers = {m["manager"] for m in child["metadata"]["managedFields"]}
        assert OPERATOR in managers, managers  # written by the operator's pod, nobody else
    answer = await wait_for(
        lambda: _answers(gateway, "applied", b"pod"), what="applied through the gateway", within=60
    )
    assert answer is not None and answer.startswith("v1:applied-") and answer.endswith(":pod"), answer

    # kubectl scale uses the Function's scale subresource; the operator's pod rolls it out
    kubectl(kubeconfig, "scale", "function/applied", "-n", ns, "--replicas", "2")
    await wait_for(lambda: _ready(admin, "applied", ns, 2), what="applied at 2 replicas", within=120)
    listed = (await gateway.get("/system/function/applied")).json()
    assert (listed["replicas"], listed["availableReplicas"]) == (2, 2)

    kubectl(kubeconfig, "delete", "function/applied", "-n", ns)
    assert await wait_for(lambda: _gone(admin, "applied", ns), what="applied's objects to go", within=60)


async def test_a_function_deployed_through_the_gateway_is_a_function_object(
    admin: AsyncClient, stack: Platform, gateway: httpx.AsyncClient, echo_images: tuple[str, str]
) -> None:
    ns = stack.functions
    deployed = await gateway.post("/system/functions", json={"service": "viaapi", "image": echo_images[0]})
    assert deployed.status_code in (200, 202), deployed.text
    created = await _get(admin, FunctionResource, "viaapi", ns)
    assert created is not None and created["spec"]["image"] == echo_images[0]
    await wait_for(lambda: _ready(admin, "viaapi", ns, 1), what="viaapi to be Ready", within=120)
    answer = await wait_for(
        lambda: _answers(gateway, "viaapi", b"api"), what="viaapi through the gateway", within=60
    )
    assert answer is not None and answer.endswith(":api"), answer

    deleted = await gateway.request("DELETE", "/system/functions", json={"functionName": "viaapi"})
    assert deleted.status_code in (200, 202), deleted.text
    assert (await gateway.get("/system/function/viaapi")).status_code == 404
    # The gateway deletes the Function in the foreground and its Deployment and Service itself: all three are
    # gone or going at once. (They are removed when the pod has stopped; test_a_function_applied_with_kubectl
    # waits for a background deletion's garbage collection.)
    for kind in (FunctionResource, Deployment, Service):
        body = await _get(admin, kind, "viaapi", ns)
        assert body is None or body["metadata"].get("deletionTimestamp"), body


async def _logs(admin: AsyncClient, pod: str, namespace: str, *, follow: bool = False) -> str:
    return "".join([line async for line in admin.log(pod, namespace=namespace, follow=follow)])


def _assert_clean(pod: str, logs: str) -> None:
    """Every request the pod made was allowed by the program's RBAC, and nothing failed."""
    print(f"\n--- {pod}\n{logs}")
    for bad in ("Forbidden", "Traceback", " ERROR "):
        assert bad not in logs, f"{pod}: {bad!r} in\n{logs}"


async def test_the_standby_pod_takes_over_when_the_leader_pod_is_deleted(
    admin: AsyncClient,
    cluster: KubeCluster,
    stack: Platform,
    gateway: httpx.AsyncClient,
    echo_images: tuple[str, str],
) -> None:
    leader = await _holder(admin, stack.control)
    assert leader is not None
    # the leader's log, followed until its process ends: it reconciled the functions of the tests above
    ending = asyncio.create_task(_logs(admin, leader, stack.control, follow=True))
    started = time.monotonic()
    await admin.delete(Pod, leader, namespace=stack.control)  # SIGTERM: the leader releases the Lease

    async def new_holder() -> str | None:
        holder = await _holder(admin, stack.control)
        return holder if holder not in (None, leader) else None

    successor = await wait_for(new_holder, what="another replica to take the Lease", within=30)
    print(f"\nthe Lease changed hands {time.monotonic() - started:.1f} s after the leader pod's deletion")
    logs = await asyncio.wait_for(ending, 60)
    _assert_clean(leader, logs)
    assert "acquired leadership" in logs and f"released leadership ({leader})" in logs
    pods = {
        p.to_dict()["metadata"]["name"]
        async for p in admin.list(Pod, namespace=stack.control, labels=OPERATOR_PODS)
    }
    assert successor in pods, (successor, pods)
    ns = stack.functions
    kubectl(cluster.kubeconfig, "apply", "-f", "-", input=manifest("after", ns, echo_images[1]))
    await wait_for(lambda: _ready(admin, "after", ns, 1), what="after to be Ready", within=120)
    answer = await wait_for(
        lambda: _answers(gateway, "after", b"x"), what="after through the gateway", within=60
    )
    assert answer is not None and answer.startswith("v2:after-"), answer
    for pod in pods - {leader}:
        _assert_clean(pod, await _logs(admin, pod, stack.control))
