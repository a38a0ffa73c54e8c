"""Functions really serving from pods: the gateway on the host, ``provider=kubernetes``, a real cluster.

The images are python3-http functions built from ``templates/python3-http`` and imported into the cluster's
containerd (``echo_images``); every call goes through the gateway's ``/function/<name>`` route to a pod IP
(the host reaches pods over the bridge; pods never call the host). Each test has its own function namespace.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from pyfaas.gateway.app import create_app
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderSettings
from tests.support.gateway import GatewayProcess
from tests.support.kube_cluster import KubeCluster
from tests.support.polling import eventually
from tests.support.providers import serve_app

pytestmark = pytest.mark.timeout(300)

T = TypeVar("T")
FAST_PROBES = {
    # faas-netes's defaults are 2 s / 2 s; a test (and a latency-minded operator) probes every second at once
    "readiness_probe_initial_delay_seconds": "0",
    "readiness_probe_period_seconds": "1",
    "image_pull_policy": "IfNotPresent",  # no registry: only the imported images exist
}
FUNCTION_ENV = {"healthcheck_interval": "2s"}
"""A terminating pod keeps serving 2 s after SIGTERM (until the gateway has seen it leave the endpoints)."""


def provider_env(cluster: KubeCluster, namespace: str) -> dict[str, str]:
    return {"KUBECONFIG": str(cluster.kubeconfig), "function_namespace": namespace, **FAST_PROBES}


@asynccontextmanager
async def gateway(cluster: KubeCluster, namespace: str) -> AsyncIterator[aiohttp.ClientSession]:
    """The gateway app in this process over a KubernetesProvider configured as the service configures it."""
    provider = KubernetesProvider(
        KubernetesProviderSettings.from_env(provider_env(cluster, namespace)).config()
    )
    env = {"provider": "kubernetes", "function_namespace": namespace, "scale_from_zero_timeout": "60s"}
    settings = GatewaySettings.from_env(env)
    app = create_app(settings, provider, registry=CollectorRegistry())
    async with serve_app(app) as url, aiohttp.ClientSession(base_url=url) as http:
        yield http


class Api:
    def __init__(self, http: aiohttp.ClientSession, name: str) -> None:
        self.http, self.name = http, name

    async def call(self, body: str) -> tuple[int, str]:
        async with self.http.post(f"/function/{self.name}", data=body.encode()) as response:
            return response.status, await response.text()

    async def status(self) -> dict[str, Any]:
        async with self.http.get(f"/system/function/{self.name}") as response:
            assert response.status == 200, await response.text()
            result: dict[str, Any] = await response.json()
            return result

    async def scale(self, replicas: int) -> None:
        body = {"serviceName": self.name, "replicas": replicas}
        async with self.http.post(f"/system/scale-function/{self.name}", json=body) as response:
            assert response.status in (200, 202), await response.text()

    async def available(self, count: int, within: float = 90) -> None:
        await eventually(
            self.status,
            lambda s: (s.get("replicas", 0), s.get("availableReplicas", 0)) == (count, count),
            within,
        )

    async def logs(self) -> str:
        async with self.http.get("/system/logs", params={"name": self.name, "tail": "100"}) as response:
            assert response.status == 200, await response.text()
            return await response.text()


async def test_a_function_serves_from_pods_through_the_gateway(
    kube_cluster: KubeCluster, kube_namespace: str, echo_images: tuple[str, str]
) -> None:
    v1, v2 = echo_images
    spec: dict[str, Any] = {"service": "echo", "image": v1, "envVars": FUNCTION_ENV}
    async with gateway(kube_cluster, kube_namespace) as http:
        api = Api(http, "echo")
        async with http.post("/system/functions", json=spec) as response:
            assert response.status == 202, await response.text()

        # sync: the first call may come before the pod is ready; the gateway waits for its endpoint
        status, text = await api.call("one")
        assert status == 200 and text.startswith("v1:echo-") and text.endswith(":one"), text
        await api.available(1)
        await eventually(api.logs, lambda text: "called with one" in text, within=30)

        # from zero: the pod goes; the next call scales the function up and is answered by a new pod
        first_pod = text.split(":")[1]
        await api.scale(0)
        await api.available(0)
        status, text = await api.call("two")
        assert status == 200 and text.endswith(":two") and text.split(":")[1] != first_pod, text
        assert (await api.status()).get("replicas") == 1

        # three pods share the calls, then back to one
        await api.scale(3)
        await api.available(3)
        answers = await asyncio.gather(*(api.call(str(i)) for i in range(30)))
        assert {s for s, _ in answers} == {200}
        assert len({t.split(":")[1] for _, t in answers}) >= 2  # least in-flight spreads concurrent calls
        await api.scale(1)
        await api.available(1)

        # a new image under steady load: maxUnavailable 0, and every call is answered
        seen: list[tuple[int, str]] = []
        stop = asyncio.Event()

        async def load() -> None:
            while not stop.is_set():
                seen.append(await api.call("load"))

        workers = [asyncio.create_task(load()) for _ in range(4)]
        try:
            async with http.put("/system/functions", json={**spec, "image": v2}) as response:
                assert response.status == 202, await response.text()
            await eventually(
                lambda: asyncio.sleep(0, [t for _, t in seen[-8:]]),
                lambda recent: len(recent) == 8 and all(t.startswith("v2:") for t in recent),
                within=90,
            )
            await api.available(1)
        finally:
            stop.set()
            await asyncio.gather(*workers)
        failures = [answer for answer in seen if answer[0] != 200]
        assert not failures, failures[:5]
        assert {t.split(":")[0] for _, t in seen} == {"v1", "v2"}
        assert (await api.status())["image"] == v2

        async with http.delete("/system/functions", json={"functionName": "echo"}) as response:
            assert response.status == 202, await response.text()
        await eventually(lambda: api.call("gone"), lambda answer: answer[0] == 404)
        async with http.get("/system/functions") as response:
            assert await response.json() == []


async def test_gateway_process_configured_for_kubernetes_from_its_environment(
    kube_cluster: KubeCluster, kube_namespace: str, echo_images: tuple[str, str], tmp_path: Path
) -> None:
    """``python -m pyfaas.gateway`` with ``provider=kubernetes`` and a kubeconfig: the production root."""
    env = {"provider": "kubernetes", **provider_env(kube_cluster, kube_namespace)}
    process = GatewayProcess(tmp_path / "gateway", env=env)
    await process.start()
    try:
        async with aiohttp.ClientSession(base_url=process.url) as http:
            async with http.get("/system/info") as response:
                assert (await response.json())["provider"]["orchestration"] == "kubernetes"
            spec = {"service": "hello", "image": echo_images[0], "envVars": FUNCTION_ENV}
            async with http.post("/system/functions", json=spec) as response:
                assert response.status == 202, await response.text()
            async with http.post("/function/hello", data=b"hi") as response:
                text = await response.text()
                assert response.status == 200 and text.startswith("v1:hello-") and text.endswith(":hi"), text

            async def listed() -> list[dict[str, Any]]:
                async with http.get("/system/functions") as response:
                    found: list[dict[str, Any]] = await response.json()
                    return found

            # the Deployment's status counts the pod a moment after its endpoint served the call
            [hello] = await eventually(
                listed, lambda found: [f.get("availableReplicas") for f in found] == [1]
            )
            assert (hello["name"], hello["namespace"]) == ("hello", kube_namespace)
    finally:
        assert await process.stop() == 0
