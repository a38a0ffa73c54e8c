"""The real gateway with ``KubernetesProvider`` against the schema-validating test API server, end to end.

Deploy through ``POST /system/functions``, invoke through ``/function/<name>`` (the gateway routes to the
EndpointSlice address of a watchdog pod), scale to zero, invoke again (scale from zero), update, read logs,
delete. Every body the provider sent on the way must have validated for Kubernetes 1.30 and 1.37.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from pyfaas.gateway.app import create_app
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderConfig
from tests.support.gateway import GatewayProcess
from tests.support.kube_api import KubeAPIServer, kube_api_server
from tests.support.kube_schema import SCHEMA_VERSIONS
from tests.support.providers import serve_app, write_handler

pytestmark = pytest.mark.timeout(120)

NS = "openfaas-fn"
T = TypeVar("T")
HANDLER = """
import os

def handle(event, context):
    print("called with " + event.body.decode(), flush=True)
    return {"statusCode": 200, "body": os.environ["VERSION"] + ":" + event.body.decode()}
"""


async def eventually(probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], within: float = 30) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if check(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"not reached in {within}s: {value!r}"
        await asyncio.sleep(0.05)


def ready_pods(server: KubeAPIServer, name: str) -> list[str]:
    return [p.name for p in server.pods.values() if p.deployment == name and p.ready and not p.stopping]


def sent_kinds(server: KubeAPIServer) -> set[str]:
    return {
        str(body.get("kind"))
        for method, _, body in server.received
        if body and method in ("POST", "PUT", "PATCH")
    }


async def test_gateway_deploys_invokes_scales_to_zero_and_back_and_deletes(tmp_path: Path) -> None:
    handler = write_handler(tmp_path / "handler", HANDLER)
    spec: dict[str, Any] = {
        "service": "echo",
        "image": "ghcr.io/example/echo:1",
        "envVars": {"mode": "python", "handler": str(handler), "VERSION": "v1"},
        "labels": {"com.openfaas.scale.zero": "true"},
        "secrets": ["api-key"],
    }
    async with kube_api_server(tmp_path / "api") as server:
        assert server.versions == SCHEMA_VERSIONS == ("1.30", "1.37")
        provider = KubernetesProvider(KubernetesProviderConfig(api_server=server.url))
        settings = GatewaySettings.from_env({"provider": "kubernetes", "scale_from_zero_timeout": "30s"})
        app = create_app(settings, provider, registry=CollectorRegistry())
        async with serve_app(app) as url, aiohttp.ClientSession(base_url=url) as http:

            async def call(body: str) -> tuple[int, str]:
                async with http.post("/function/echo", data=body.encode()) as response:
                    return response.status, await response.text()

            async def status() -> dict[str, Any]:
                async with http.get("/system/function/echo") as response:
                    assert response.status == 200
                    result: dict[str, Any] = await response.json()
                    return result

            secret = {"name": "api-key", "value": "s3cret"}
            async with http.post("/system/secrets", json=secret) as response:
                assert response.status in (200, 201, 202), await response.text()
            async with http.post("/system/functions", json=spec) as response:
                assert response.status == 202, await response.text()

            # Invoke: the first call may come before the pod is ready; the gateway waits for the slice.
            assert await call("one") == (200, "v1:one")
            [pod] = ready_pods(server, "echo")
            assert (await status())["availableReplicas"] == 1

            # Scale to zero: the pod goes, the Deployment keeps existing at 0 replicas.
            async with http.post(
                "/system/scale-function/echo", json={"serviceName": "echo", "replicas": 0}
            ) as r:
                assert r.status in (200, 202), await r.text()
            await eventually(lambda: asyncio.sleep(0, server.pods), lambda pods: not pods)
            assert server.objects["deployments"][(NS, "echo")]["spec"]["replicas"] == 0

            # Scale from zero: the next call brings a new pod up and is answered by it.
            assert await call("two") == (200, "v1:two")
            assert server.objects["deployments"][(NS, "echo")]["spec"]["replicas"] == 1
            [new_pod] = ready_pods(server, "echo")
            assert new_pod != pod

            # Update: a rolling update to v2 (new pod first, old one stopped once the new is ready).
            updated = {**spec, "envVars": {**spec["envVars"], "VERSION": "v2"}}
            async with http.put("/system/functions", json=updated) as response:
                assert response.status == 202, await response.text()
            answers = await eventually(lambda: call("three"), lambda answer: answer == (200, "v2:three"))
            assert answers == (200, "v2:three")

            async with http.get("/system/logs", params={"name": "echo", "tail": "50"}) as response:
                assert response.status == 200
                logs = await response.text()
            assert "called with three" in logs

            async with http.delete("/system/functions", json={"functionName": "echo"}) as response:
                assert response.status == 202, await response.text()
            await eventually(lambda: call("four"), lambda answer: answer[0] == 404)
            await eventually(lambda: asyncio.sleep(0, server.objects["deployments"]), lambda d: not d)
            assert not server.objects["services"] and not server.pods

        assert server.rejected == []
        assert {"Secret", "Deployment", "Service", "Scale"} <= sent_kinds(server)
        assert server.validated >= 5


PID_HANDLER = """
import os
import time

def handle(event, context):
    time.sleep(float(event.body.decode() or 0))
    return {"statusCode": 200, "body": os.environ["VERSION"] + ":" + str(os.getpid())}
"""


async def test_gateway_balances_over_pods_and_a_rolling_update_loses_no_call(tmp_path: Path) -> None:
    handler = write_handler(tmp_path / "pid", PID_HANDLER)
    spec: dict[str, Any] = {
        "service": "pid",
        "image": "ghcr.io/example/pid:1",
        "envVars": {"mode": "python", "handler": str(handler), "VERSION": "v1"},
        "labels": {"com.openfaas.scale.min": "2"},
    }
    async with kube_api_server(tmp_path / "api") as server:
        provider = KubernetesProvider(KubernetesProviderConfig(api_server=server.url))
        settings = GatewaySettings.from_env({"provider": "kubernetes"})
        app = create_app(settings, provider, registry=CollectorRegistry())
        async with serve_app(app) as url, aiohttp.ClientSession(base_url=url) as http:

            async def call(delay: str = "0") -> tuple[int, str]:
                async with http.post("/function/pid", data=delay.encode()) as response:
                    return response.status, await response.text()

            async with http.post("/system/functions", json=spec) as response:
                assert response.status == 202, await response.text()
            await eventually(lambda: asyncio.sleep(0, ready_pods(server, "pid")), lambda pods: len(pods) == 2)
            await eventually(lambda: provider.ready_replicas("pid", NS), lambda replicas: len(replicas) == 2)

            # Least in-flight: concurrent slow calls spread over both pods.
            answers = await asyncio.gather(*(call("0.2") for _ in range(8)))
            assert {status for status, _ in answers} == {200}
            assert len({text for _, text in answers}) == 2

            # A rolling update under steady load: every call is answered 200 by v1 or v2, and v2 takes over.
            stop = asyncio.Event()
            seen: list[tuple[int, str]] = []

            async def load() -> None:
                while not stop.is_set():
                    seen.append(await call())

            workers = [asyncio.create_task(load()) for _ in range(4)]
            try:
                updated = {**spec, "envVars": {**spec["envVars"], "VERSION": "v2"}}
                async with http.put("/system/functions", json=updated) as response:
                    assert response.status == 202, await response.text()
                await eventually(
                    lambda: asyncio.sleep(0, [t for _, t in seen[-8:]]),
                    lambda recent: len(recent) == 8 and all(t.startswith("v2:") for t in recent),
                )
                await eventually(lambda: asyncio.sleep(0, server.pods), lambda pods: len(pods) == 2)
            finally:
                stop.set()
                await asyncio.gather(*workers)
            failures = [answer for answer in seen if answer[0] != 200]
            assert not failures, failures[:5]
            assert {t.split(":")[0] for _, t in seen} == {"v1", "v2"}
        assert server.rejected == []


async def test_gateway_process_configured_for_kubernetes_from_its_environment(tmp_path: Path) -> None:
    """``python -m pyfaas.gateway`` with ``provider=kubernetes``: the production composition root."""
    handler = write_handler(tmp_path / "handler", HANDLER)
    spec = {
        "service": "echo",
        "image": "ghcr.io/example/echo:1",
        "envVars": {"mode": "python", "handler": str(handler), "VERSION": "proc"},
    }
    async with kube_api_server(tmp_path / "api") as server:
        gateway = GatewayProcess(
            tmp_path / "gateway", env={"provider": "kubernetes", "kube_api_server": server.url}
        )
        await gateway.start()
        try:
            async with aiohttp.ClientSession(base_url=gateway.url) as http:
                async with http.get("/system/info") as response:
                    info = await response.json()
                assert info["provider"]["orchestration"] == "kubernetes"
                async with http.post("/system/functions", json=spec) as response:
                    assert response.status == 202, await response.text()
                async with http.post("/function/echo", data=b"hi") as response:
                    assert (response.status, await response.text()) == (200, "proc:hi")
                async with http.get("/system/functions") as response:
                    [listed] = await response.json()
                assert listed["name"] == "echo" and listed["availableReplicas"] == 1
        finally:
            assert await gateway.stop() == 0
        assert server.rejected == []
        assert server.objects["deployments"][(NS, "echo")]["spec"]["template"]["spec"]["containers"][0][
            "env"
        ] == [
            {"name": "VERSION", "value": "proc"},
            {"name": "handler", "value": str(handler)},
            {"name": "mode", "value": "python"},
        ]
