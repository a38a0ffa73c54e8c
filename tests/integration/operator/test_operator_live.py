"""The operator on the real test cluster: Functions applied with kubectl become running Deployments and
Services (the same objects ``pyfaas.core.k8s`` builds), with status, drift correction, garbage collection,
retries for missing secrets, conditions for bad objects, restarts and two replicas."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import ApiError, AsyncClient
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Secret, Service

from pyfaas.core.function_crd import deployment_of
from pyfaas.core.k8s import FunctionWorkloadOptions, function_deployment, function_service
from pyfaas.core.replica_key import REPLICA_KEY_HEADER, replica_key_secret_name
from pyfaas.operator.reconcile import contains
from tests.support.operator_cluster import FunctionResource, wait_for
from tests.support.operator_process import kubectl, running_operator

pytestmark = pytest.mark.timeout(240)

WORKLOAD = FunctionWorkloadOptions(
    image_pull_policy="IfNotPresent", probe_period_seconds=1, probe_initial_delay_seconds=0
)


def manifest(name: str, namespace: str, image: str, /, **spec: Any) -> str:
    """A Function in faas-cli generate's YAML shape."""
    import yaml

    body = {
        "apiVersion": "openfaas.com/v1",
        "kind": "Function",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"name": name, "image": image} | spec,
    }
    return str(yaml.safe_dump(body))


async def function(client: AsyncClient, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(FunctionResource, name, namespace=namespace)).to_dict()
    return body


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    for item in (body.get("status") or {}).get("conditions") or []:
        if item["type"] == kind:
            return dict(item)
    return {}


async def wait_condition(
    client: AsyncClient, namespace: str, name: str, kind: str, reason: str | None = None, within: float = 90
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = await function(client, namespace, name)
        found = condition(body, kind)
        generation = body["metadata"]["generation"]
        if body.get("status", {}).get("observedGeneration") != generation:
            return None
        if reason is None and found.get("status") == "True":
            return body
        if reason is not None and found.get("reason") == reason:
            return body
        return None

    return await wait_for(check, what=f"{name}: {kind} {reason or 'True'}", within=within)


async def get_or_none(client: AsyncClient, kind: type[Any], namespace: str, name: str) -> Any:
    try:
        return (await client.get(kind, name, namespace=namespace)).to_dict()
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


async def serves(client: AsyncClient, namespace: str, name: str) -> bool:
    """The function answers its replica key (what the gateway sends) and refuses a call without it."""
    service = await client.get(Service, name, namespace=namespace)
    assert service.spec is not None
    secret = await client.get(Secret, replica_key_secret_name(name), namespace=namespace)
    key = base64.b64decode((secret.data or {})["key"]).decode()
    url = f"http://{service.spec.clusterIP}:8080/"
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
            answer = await http.get(url, headers={REPLICA_KEY_HEADER: key})
            unkeyed = await http.get(url)
    except httpx.HTTPError:
        return False  # kube-proxy writes the rules about a second after the endpoints are ready
    assert answer.status_code != 200 or unkeyed.status_code == 403, unkeyed.text
    return answer.status_code == 200 and answer.text.startswith("v1:")


async def test_a_function_applied_with_kubectl_becomes_a_ready_deployment_and_service(
    client: AsyncClient, namespace: str, kubeconfig: Path, http_image: str, tmp_path: Path
) -> None:
    with running_operator(kubeconfig, namespace, tmp_path):
        kubectl(kubeconfig, "apply", "-f", "-", input=manifest("hello", namespace, http_image))
        body = await wait_condition(client, namespace, "hello", "Ready")
        assert body["status"]["readyReplicas"] == 1
        assert body["status"]["availableReplicas"] == 1
        assert condition(body, "Failed")["status"] == "False"
        assert await wait_for(lambda: serves(client, namespace, "hello"), what="hello to answer")

        # The same objects the Kubernetes provider and Pulumi write, owned by the Function.
        spec, _ = deployment_of(body)
        deployment = await get_or_none(client, Deployment, namespace, "hello")
        assert contains(
            deployment,
            function_deployment(spec, namespace=namespace, options=WORKLOAD, replicas=1, replica_key=True),
        )
        service = await get_or_none(client, Service, namespace, "hello")
        assert contains(service, function_service(spec, namespace=namespace))
        key_secret = await get_or_none(client, Secret, namespace, replica_key_secret_name("hello"))
        for child in (deployment, service, key_secret):
            (owner,) = child["metadata"]["ownerReferences"]
            assert owner["kind"] == "Function" and owner["uid"] == body["metadata"]["uid"]
        assert "finalizers" not in body["metadata"]  # garbage collection needs none
        printed = kubectl(kubeconfig, "get", "functions", "-n", namespace)
        assert "IMAGE" in printed and http_image in printed and "Available" in printed


async def test_update_scale_drift_and_delete(
    client: AsyncClient, namespace: str, kubeconfig: Path, http_image: str, tmp_path: Path
) -> None:
    with running_operator(kubeconfig, namespace, tmp_path):
        kubectl(kubeconfig, "apply", "-f", "-", input=manifest("fn", namespace, http_image))
        await wait_condition(client, namespace, "fn", "Ready")

        # update: a new environment rolls out
        updated = manifest("fn", namespace, http_image, environment={"GREETING": "hi"})
        kubectl(kubeconfig, "apply", "-f", "-", input=updated)
        await wait_condition(client, namespace, "fn", "Ready")
        deployment = await get_or_none(client, Deployment, namespace, "fn")
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "GREETING", "value": "hi"} in env

        # scale through the subresource
        kubectl(kubeconfig, "scale", "function/fn", "-n", namespace, "--replicas", "2")
        body = await wait_condition(client, namespace, "fn", "Ready")
        assert body["status"]["readyReplicas"] == 2
        assert (await get_or_none(client, Deployment, namespace, "fn"))["spec"]["replicas"] == 2

        # drift: someone scales or edits the Deployment, or deletes the Service
        kubectl(kubeconfig, "scale", "deployment/fn", "-n", namespace, "--replicas", "5")
        kubectl(kubeconfig, "set", "env", "deployment/fn", "-n", namespace, "GREETING=tampered")

        async def restored() -> bool:
            current = await get_or_none(client, Deployment, namespace, "fn")
            env = current["spec"]["template"]["spec"]["containers"][0].get("env", [])
            return bool(current["spec"]["replicas"] == 2 and {"name": "GREETING", "value": "hi"} in env)

        await wait_for(restored, what="the Deployment to be restored")
        kubectl(kubeconfig, "delete", "service/fn", "-n", namespace)
        await wait_for(lambda: get_or_none(client, Service, namespace, "fn"), what="the Service to return")
        kubectl(kubeconfig, "delete", "deployment/fn", "-n", namespace, "--wait=false")

        async def recreated() -> bool:
            current = await get_or_none(client, Deployment, namespace, "fn")
            return current is not None and not current["metadata"].get("deletionTimestamp")

        await wait_for(recreated, what="the Deployment to be recreated")
        await wait_condition(client, namespace, "fn", "Ready")

        # delete: the garbage collector removes the children
        kubectl(kubeconfig, "delete", "function/fn", "-n", namespace, "--wait=false")

        async def collected() -> bool:
            return (
                await get_or_none(client, Deployment, namespace, "fn") is None
                and await get_or_none(client, Service, namespace, "fn") is None
            )

        await wait_for(collected, what="the Deployment and Service to be collected", within=60)


async def test_missing_secret_waits_with_a_condition_then_deploys(
    client: AsyncClient, namespace: str, kubeconfig: Path, http_image: str, tmp_path: Path
) -> None:
    with running_operator(kubeconfig, namespace, tmp_path) as operator:
        kubectl(
            kubeconfig, "apply", "-f", "-", input=manifest("sec", namespace, http_image, secrets=["api-key"])
        )
        body = await wait_condition(client, namespace, "sec", "Failed", "SecretNotFound")
        assert "spec.secrets[0]" in condition(body, "Failed")["message"]
        assert await get_or_none(client, Deployment, namespace, "sec") is None
        secret = {"metadata": {"name": "api-key", "namespace": namespace}, "stringData": {"api-key": "x"}}
        await client.create(Secret.from_dict(secret))
        await wait_condition(client, namespace, "sec", "Ready")
        assert operator.process.poll() is None


async def test_bad_objects_get_conditions_and_never_stop_the_operator(
    client: AsyncClient, namespace: str, kubeconfig: Path, http_image: str, tmp_path: Path
) -> None:
    with running_operator(kubeconfig, namespace, tmp_path) as operator:
        # valid for the schema, not for the operator: spec.name must equal metadata.name
        kubectl(kubeconfig, "apply", "-f", "-", input=manifest("named", namespace, http_image, name="other"))
        body = await wait_condition(client, namespace, "named", "Failed", "InvalidSpec")
        assert "spec.name" in condition(body, "Failed")["message"]

        kubectl(kubeconfig, "apply", "-f", "-", input=manifest("nopull", namespace, "localhost/absent:1"))
        await wait_condition(client, namespace, "nopull", "Failed", "ImagePullFailed")

        # a watchdog told to run in a mode that does not exist exits at start, again and again
        crashing = manifest("crash", namespace, http_image, environment={"mode": "no-such-mode"})
        kubectl(kubeconfig, "apply", "-f", "-", input=crashing)
        await wait_condition(client, namespace, "crash", "Failed", "CrashLoop", within=120)

        kubectl(kubeconfig, "apply", "-f", "-", input=manifest("fine", namespace, http_image))
        await wait_condition(client, namespace, "fine", "Ready")
        assert operator.process.poll() is None


async def test_restart_in_the_middle_of_reconciling_loses_and_duplicates_nothing(
    client: AsyncClient, namespace: str, kubeconfig: Path, http_image: str, tmp_path: Path
) -> None:
    names = [f"burst-{i}" for i in range(6)]
    with running_operator(kubeconfig, namespace, tmp_path, identity="first") as first:
        kubectl(
            kubeconfig,
            "apply",
            "-f",
            "-",
            input="---\n".join(manifest(n, namespace, http_image) for n in names),
        )

        async def some_written() -> bool:
            return any([await get_or_none(client, Deployment, namespace, n) for n in names])

        await wait_for(some_written, what="a first Deployment", interval=0.05)
        first.kill()  # SIGKILL mid-reconcile: no clean-up, the Lease stays held until it expires
    with running_operator(kubeconfig, namespace, tmp_path, identity="second"):
        for name in names:
            await wait_condition(client, namespace, name, "Ready", within=120)
    deployments = [d async for d in client.list(Deployment, namespace=namespace)]
    services = [s async for s in client.list(Service, namespace=namespace)]
    replica_sets = [r async for r in client.list(ReplicaSet, namespace=namespace)]
    assert sorted(d.metadata.name for d in deployments if d.metadata) == sorted(names)
    assert sorted(s.metadata.name for s in services if s.metadata) == sorted(names)
    assert len(replica_sets) == len(names)  # one rollout each: nothing was written twice differently


async def test_two_replicas_one_acts_and_the_other_takes_over(
    client: AsyncClient, namespace: str, kubeconfig: Path, http_image: str, tmp_path: Path
) -> None:
    with (
        running_operator(kubeconfig, namespace, tmp_path, identity="one") as one,
        running_operator(kubeconfig, namespace, tmp_path, identity="two") as two,
    ):

        async def holder() -> str:
            lease = await get_or_none(client, Lease, namespace, "pyfaas-operator")
            return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")

        leader_name = await wait_for(holder, what="a leader")
        leader, follower = (one, two) if leader_name == "one" else (two, one)
        kubectl(kubeconfig, "apply", "-f", "-", input=manifest("first", namespace, http_image))
        await wait_condition(client, namespace, "first", "Ready")
        assert "wrote Deployment" in leader.log_text()
        assert "wrote Deployment" not in follower.log_text()
        assert "acquired leadership" not in follower.log_text()

        leader.kill()
        await wait_for(
            lambda: _is(holder, follower.identity), what="the follower to take the Lease over", within=30
        )
        kubectl(kubeconfig, "apply", "-f", "-", input=manifest("second", namespace, http_image))
        await wait_condition(client, namespace, "second", "Ready")
        assert "wrote Deployment" in follower.log_text()


async def _is(read: Any, expected: str) -> bool:
    return bool(await read() == expected)


async def test_a_stopped_leader_hands_over_at_once(
    client: AsyncClient, namespace: str, kubeconfig: Path, http_image: str, tmp_path: Path
) -> None:
    # A long lease: a takeover by expiry would take 15 s; SIGTERM releases the Lease, so it takes about one
    # retry period.
    slow = {"lease_duration": "15", "renew_deadline": "10"}
    with (
        running_operator(kubeconfig, namespace, tmp_path, identity="one", **slow) as one,
        running_operator(kubeconfig, namespace, tmp_path, identity="two", **slow) as two,
    ):

        async def holder() -> str:
            lease = await get_or_none(client, Lease, namespace, "pyfaas-operator")
            return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")

        leader_name = await wait_for(holder, what="a leader")
        leader, follower = (one, two) if leader_name == "one" else (two, one)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert leader.stop() == 0, leader.log_text()[-2000:]
        await wait_for(lambda: _is(holder, follower.identity), what="the follower to take over", within=14)
        assert loop.time() - started < 14  # well inside the 15 s lease
        kubectl(kubeconfig, "apply", "-f", "-", input=manifest("after", namespace, http_image))
        await wait_condition(client, namespace, "after", "Ready")
        assert "released leadership (" + leader.identity + ")" in leader.log_text()
