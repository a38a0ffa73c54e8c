"""The gateway in operator mode on the real cluster: a Function applied with kubectl serves through it; its
REST API (what faas-cli and ``pyfaas`` call) deploys, scales, updates and deletes by writing Function objects
that the operator reconciles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from prometheus_client import CollectorRegistry

from pyfaas.gateway.__main__ import build_provider
from pyfaas.gateway.app import create_app
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.provider.kubernetes.operator_mode import OperatorProvider
from tests.integration.operator.test_operator_live import get_or_none, manifest
from tests.support.operator_cluster import FunctionResource, wait_for
from tests.support.operator_process import kubectl, running_operator
from tests.support.providers import serve_app

pytestmark = pytest.mark.timeout(300)


@asynccontextmanager
async def operator_gateway(kubeconfig: Path, namespace: str) -> AsyncIterator[aiohttp.ClientSession]:
    """The gateway app in this process with the provider its ``__main__`` builds for ``operator=true``."""
    env = {
        "provider": "kubernetes",
        "operator": "true",
        "KUBECONFIG": str(kubeconfig),
        "function_namespace": namespace,
        "scale_from_zero_timeout": "90s",
    }
    settings = GatewaySettings.from_env(env)
    provider = build_provider(settings, env)
    assert isinstance(provider, OperatorProvider)
    app = create_app(settings, provider, registry=CollectorRegistry())
    async with serve_app(app) as url, aiohttp.ClientSession(base_url=url) as http:
        yield http


async def call(http: aiohttp.ClientSession, name: str, body: str) -> tuple[int, str]:
    async with http.post(f"/function/{name}", data=body.encode()) as response:
        return response.status, await response.text()


async def status(http: aiohttp.ClientSession, name: str) -> dict[str, Any]:
    async with http.get(f"/system/function/{name}") as response:
        assert response.status == 200, await response.text()
        found: dict[str, Any] = await response.json()
        return found


async def available(http: aiohttp.ClientSession, name: str, count: int) -> None:
    async def reached() -> bool:
        current = await status(http, name)
        return bool((current.get("replicas", 0), current.get("availableReplicas", 0)) == (count, count))

    await wait_for(reached, what=f"{name}: {count} available", within=120)


async def test_served_through_the_gateway_and_managed_by_its_api(
    client: AsyncClient, namespace: str, kubeconfig: Path, http_image: str, tmp_path: Path
) -> None:
    env = {"healthcheck_interval": "2s"}  # a terminating pod serves until the gateway saw it leave
    with running_operator(kubeconfig, namespace, tmp_path):
        async with operator_gateway(kubeconfig, namespace) as http:
            # faas-cli generate's output, applied with kubectl, answers through the gateway
            kubectl(kubeconfig, "apply", "-f", "-", input=manifest("applied", namespace, http_image))
            code, text = await call(http, "applied", "one")
            assert code == 200 and text.startswith("v1:applied-") and text.endswith(":one"), text

            # the REST API writes Function objects
            spec = {"service": "api", "image": http_image, "envVars": env, "labels": {"team": "a"}}
            async with http.post("/system/functions", json=spec) as response:
                assert response.status == 202, await response.text()
            created = (await client.get(FunctionResource, "api", namespace=namespace)).to_dict()
            assert created["spec"]["image"] == http_image and created["spec"]["labels"] == {"team": "a"}
            code, text = await call(http, "api", "two")
            assert code == 200 and text.endswith(":two"), text
            async with http.get("/system/functions") as response:
                listed = {f["name"]: f for f in await response.json()}
            assert set(listed) == {"applied", "api"} and listed["api"]["labels"] == {"team": "a"}

            # scale through the Function's scale subresource, to zero and back on the next call
            async with http.post(
                "/system/scale-function/api", json={"serviceName": "api", "replicas": 2}
            ) as r:
                assert r.status in (200, 202), await r.text()
            assert (await client.get(FunctionResource, "api", namespace=namespace)).to_dict()["spec"][
                "replicas"
            ] == 2
            await available(http, "api", 2)
            async with http.post(
                "/system/scale-function/api", json={"serviceName": "api", "replicas": 0}
            ) as r:
                assert r.status in (200, 202), await r.text()
            await available(http, "api", 0)
            code, text = await call(http, "api", "three")
            assert code == 200 and text.endswith(":three"), text

            # update: the Function's spec changes, the operator rolls the Deployment
            update = {**spec, "envVars": {**env, "GREETING": "hi"}}
            async with http.put("/system/functions", json=update) as response:
                assert response.status == 202, await response.text()

            async def rolled() -> bool:
                deployment = await get_or_none(client, Deployment, namespace, "api")
                container = deployment["spec"]["template"]["spec"]["containers"][0]
                return {"name": "GREETING", "value": "hi"} in container.get("env", [])

            await wait_for(rolled, what="the update to reach the Deployment")

            # delete: the Function goes, the garbage collector takes its objects
            async with http.delete("/system/functions", json={"functionName": "api"}) as response:
                assert response.status == 202, await response.text()
            async with http.get("/system/function/api") as response:
                assert response.status == 404

            async def gone() -> bool:
                return (
                    await get_or_none(client, FunctionResource, namespace, "api") is None
                    and await get_or_none(client, Deployment, namespace, "api") is None
                )

            await wait_for(gone, what="the Function and its Deployment to go", within=60)
