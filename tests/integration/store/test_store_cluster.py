"""An image item of a store deployed on the session's real Kubernetes (``kube_cluster``), then invoked.

The store is an OpenFaaS ``functions.json`` on a real static file server on loopback; its image item points at
a python3-http image imported into the cluster's containerd (``echo_images``: there is no registry). The
gateway runs in this process with ``provider=kubernetes``; ``pyfaas store deploy`` (in a thread: the gateway
answers on this loop) deploys the item's image into a fresh namespace, and the portal's
``/system/ui/store/deployment`` does the same for a second name. A source-only item of a pyfaas catalog is
refused on the cluster with the reason. Skipped when the session has no cluster.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from pyfaas.gateway.app import create_app
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderSettings
from tests.support.cli import cli_env, run_cli
from tests.support.kube_cluster import KubeCluster
from tests.support.providers import serve_app
from tests.support.static_server import static_server
from tests.support.store_catalog import team_catalog

pytestmark = pytest.mark.timeout(300)

PROVIDER_ENV = {
    "readiness_probe_initial_delay_seconds": "0",
    "readiness_probe_period_seconds": "1",
    "image_pull_policy": "IfNotPresent",  # no registry: only the imported images exist
}


@asynccontextmanager
async def cluster_gateway(cluster: KubeCluster, namespace: str, store_sources: str) -> AsyncIterator[str]:
    provider_settings = KubernetesProviderSettings.from_env(
        {"KUBECONFIG": str(cluster.kubeconfig), "function_namespace": namespace, **PROVIDER_ENV}
    )
    provider = KubernetesProvider(provider_settings.config())
    settings = GatewaySettings.from_env(
        {
            "provider": "kubernetes",
            "function_namespace": namespace,
            "scale_from_zero_timeout": "60s",
            "store_sources": store_sources,
        }
    )
    async with serve_app(create_app(settings, provider, registry=CollectorRegistry())) as url:
        yield url


async def answer(http: aiohttp.ClientSession, name: str, body: str, within: float = 120) -> str:
    """The function's reply once it answers 200 (the first call may come before its pod is ready)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with http.post(f"/function/{name}", data=body.encode()) as response:
            text = await response.text()
            if response.status == 200:
                return text
        assert asyncio.get_running_loop().time() < deadline, f"{name}: {response.status} {text}"
        await asyncio.sleep(0.2)


async def test_an_image_item_deploys_on_the_cluster_and_answers(
    kube_cluster: KubeCluster, kube_namespace: str, echo_images: tuple[str, str], tmp_path: Path
) -> None:
    image = echo_images[0]
    www = tmp_path / "www"
    www.mkdir()
    (www / "functions.json").write_text(
        json.dumps(
            {
                "version": "0.2.0",
                "functions": [
                    {
                        "title": "Echo from the store",
                        "name": "store-echo",
                        "description": "Answers v1:<pod>:<body>.",
                        "images": {"x86_64": image, "arm64": image},
                        "fprocess": "",
                        "labels": {"com.openfaas.ui.ext": "txt"},
                        "environment": {"healthcheck_interval": "2s"},
                        "readOnlyRootFilesystem": False,
                    }
                ],
            }
        )
    )
    team_catalog(www / "team", tmp_path)
    with static_server(www) as server:
        sources = f"public={server.url}/functions.json, team={server.url}/team/catalog.json"
        async with cluster_gateway(kube_cluster, kube_namespace, sources) as url:
            env = cli_env(tmp_path / "home", OPENFAAS_URL=url, PYFAAS_STORE_SOURCES=sources)
            listed = await asyncio.to_thread(run_cli, ["store", "list", "--json"], env=env, cwd=tmp_path)
            assert listed.code == 0, listed.stderr
            public, team = json.loads(listed.stdout)
            assert public["functions"][0]["cluster"] is None
            hello = next(entry for entry in team["functions"] if entry["name"] == "hello")
            assert hello["cluster"].startswith("source only, no image for x86_64")

            deployed = await asyncio.to_thread(
                run_cli, ["store", "deploy", "store-echo", "--json"], env=env, cwd=tmp_path
            )
            assert deployed.code == 0, deployed.stderr
            assert json.loads(deployed.stdout)["local"] is False
            refused = await asyncio.to_thread(run_cli, ["store", "deploy", "hello"], env=env, cwd=tmp_path)
            refused.assert_one_error("hello (store team) cannot run on this gateway", "source only")

            async with aiohttp.ClientSession(base_url=url) as http:
                reply = await answer(http, "store-echo", "from the store")
                assert reply.startswith("v1:store-echo-") and reply.endswith(":from the store"), reply
                async with http.get("/system/function/store-echo") as response:
                    status = await response.json()
                assert status["image"] == image and status["labels"]["com.openfaas.ui.ext"] == "txt"

                # the portal's path: the gateway gives the deployment of the image item for its provider
                wanted = {"source": "public", "name": "store-echo", "service": "portal-echo"}
                async with http.post("/system/ui/store/deployment", json=wanted) as response:
                    assert response.status == 200, await response.text()
                    deployment = (await response.json())["deployment"]
                assert deployment["image"] == image and "handler" not in (deployment.get("envVars") or {})
                async with http.post("/system/functions", json=deployment) as response:
                    assert response.status == 202, await response.text()
                reply = await answer(http, "portal-echo", "via the portal")
                assert reply.startswith("v1:portal-echo-") and reply.endswith(":via the portal"), reply
                async with http.get("/system/ui/store") as response:
                    store = await response.json()
                assert store["local"] is False
                team_entries = {entry["name"]: entry for entry in store["sources"][1]["functions"]}
                assert team_entries["scanner"]["runnable"] and not team_entries["hello"]["runnable"]
                for name in ("store-echo", "portal-echo"):
                    async with http.delete("/system/functions", json={"functionName": name}) as response:
                        assert response.status in (200, 202), await response.text()
