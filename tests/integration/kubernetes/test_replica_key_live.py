"""Replica keys on the real test cluster (issue 18 part 2, cluster mode; docs/decisions/0151).

The test cluster's bridge network plugin enforces no NetworkPolicy, so any pod can open a connection to any
other pod: the watchdog's key check is what keeps one function from calling another's pod directly and
skipping the gateway. From inside a function pod, another function's pod answers 403 (its ``/_/health``
answers, so the pod is reachable: the 403 is the refusal); the gateway's call works, on every replica after a
scale-up; the key is a ``secretKeyRef`` in the Deployment, never its value; the function sees neither the
variable nor the header. A function deployed before keys existed keeps answering unkeyed calls until it is
updated, which gives it a key.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Secret, Service
from prometheus_client import CollectorRegistry

from pyfaas.core.k8s import function_deployment, function_service
from pyfaas.core.models import FunctionDeployment
from pyfaas.core.replica_key import REPLICA_KEY_ENV, REPLICA_KEY_HEADER, replica_key_secret_name
from pyfaas.gateway.app import create_app
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderSettings
from tests.integration.kubernetes.test_pods import FAST_PROBES, FUNCTION_ENV, Api
from tests.support.kube_cluster import KubeCluster
from tests.support.kube_image import function_image, import_archive
from tests.support.polling import eventually
from tests.support.providers import serve_app

pytestmark = pytest.mark.timeout(300)

HANDLER = """
import json, os, urllib.error, urllib.request

def handle(event, context):
    body = event.body.decode()
    if body.startswith("call "):
        _, method, url = body.split()
        request = urllib.request.Request(url, data=b"x" if method == "POST" else None, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                answer = {"status": r.status, "body": r.read().decode()}
        except urllib.error.HTTPError as exc:
            answer = {"status": exc.code, "body": exc.read().decode()}
        return {"statusCode": 200, "body": json.dumps(answer)}
    seen = {
        "env": os.environ.get("pyfaas_replica_key"),
        "header": event.headers.get("X-Pyfaas-Replica-Key"),
        "host": context.hostname,
    }
    return {"statusCode": 200, "body": json.dumps(seen)}
"""


@pytest.fixture(scope="module")
def caller_image(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    if kube_cluster.containerd_address is None:
        pytest.skip("images cannot be imported into this cluster (no kit.env beside the kubeconfig)")
    reference = "localhost/pyfaas-test/replica-key-probe:v1"
    archive = tmp_path_factory.mktemp("replica-key") / "probe.tar"
    function_image(reference, archive, handler=HANDLER)
    import_archive(kube_cluster.containerd_address, archive)
    return reference


async def _secret_key(admin: AsyncClient, name: str, namespace: str) -> str:
    secret = await admin.get(Secret, replica_key_secret_name(name), namespace=namespace)
    return base64.b64decode((secret.data or {})["key"]).decode()


async def _direct(url: str, key: str | None = None) -> int:
    headers = {} if key is None else {REPLICA_KEY_HEADER: key}
    async with aiohttp.ClientSession() as session, session.post(url, data=b"x", headers=headers) as response:
        return response.status


async def test_a_function_pod_cannot_call_another_functions_pod_directly(
    kube_cluster: KubeCluster, kube_namespace: str, caller_image: str, admin: AsyncClient, tmp_path: Path
) -> None:
    ns = kube_namespace
    env = {"KUBECONFIG": str(kube_cluster.kubeconfig), "function_namespace": ns, **FAST_PROBES}
    provider = KubernetesProvider(KubernetesProviderSettings.from_env(env).config())
    # A function deployed before replica keys existed: no key Secret, no variable.
    legacy = FunctionDeployment(service="legacy", image=caller_image, envVars=FUNCTION_ENV)
    options = provider.config.workload
    await admin.create(Deployment.from_dict(function_deployment(legacy, namespace=ns, options=options)))
    await admin.create(Service.from_dict(function_service(legacy, namespace=ns, options=options)))
    settings = GatewaySettings.from_env(
        {
            "provider": "kubernetes",
            "function_namespace": ns,
            "scale_from_zero_timeout": "60s",
            "state_dir": str(tmp_path / "gateway-state"),
        }
    )
    app = create_app(settings, provider, registry=CollectorRegistry())
    async with serve_app(app) as url, aiohttp.ClientSession(base_url=url) as http:
        for name in ("target", "caller"):
            spec = {"service": name, "image": caller_image, "envVars": FUNCTION_ENV}
            async with http.post("/system/functions", json=spec) as response:
                assert response.status == 202, await response.text()
        target, caller = Api(http, "target"), Api(http, "caller")
        await asyncio.gather(target.available(1), caller.available(1), Api(http, "legacy").available(1))

        # Through the gateway: 200, and the function sees neither the key's variable nor its header.
        status, text = await target.call("hello")
        assert status == 200, text
        seen = json.loads(text)
        assert seen["env"] is None and seen["header"] is None, seen

        key = await _secret_key(admin, "target", ns)
        (replica,) = await provider.ready_replicas("target", ns)
        assert replica.key == key  # the gateway learnt it from the Secret watch

        # From inside the caller's pod: the target's pod is reachable (health) but refuses the call.
        status, text = await caller.call(f"call GET {replica.url}/_/health")
        assert status == 200 and json.loads(text)["status"] == 200, text
        status, text = await caller.call(f"call POST {replica.url}/")
        assert status == 200, text
        assert json.loads(text)["status"] == 403, text
        # From this host, likewise; the key is what opens it.
        assert await _direct(replica.url) == 403
        assert await _direct(replica.url, "not-the-key") == 403
        assert await _direct(replica.url, key) == 200

        # The Deployment holds a reference to the key, never the key.
        deployment = (await admin.get(Deployment, "target", namespace=ns)).to_dict()
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        (entry,) = [e for e in container["env"] if e["name"] == REPLICA_KEY_ENV]
        assert entry == {
            "name": REPLICA_KEY_ENV,
            "valueFrom": {"secretKeyRef": {"name": replica_key_secret_name("target"), "key": "key"}},
        }
        assert key not in json.dumps(deployment)
        status_body = await target.status()
        assert REPLICA_KEY_ENV not in (status_body.get("envVars") or {}), status_body

        # A scale-up's new pod shares the function's key: the gateway reaches both replicas.
        await target.scale(2)
        await target.available(2)

        async def hosts() -> set[str]:
            found: set[str] = set()
            for _ in range(8):
                status, text = await target.call("hello")
                assert status == 200, text
                found.add(json.loads(text)["host"])
            return found

        await eventually(hosts, lambda found: len(found) == 2, 30)

        # The function deployed before keys: served unkeyed, open to direct calls as before ...
        (old,) = await provider.ready_replicas("legacy", ns)
        assert old.key is None
        assert (await Api(http, "legacy").call("x"))[0] == 200
        assert await _direct(old.url) == 200
        # ... until its next update, which gives it a key and rolls its pods.
        spec = {"service": "legacy", "image": caller_image, "envVars": FUNCTION_ENV}
        async with http.put("/system/functions", json=spec) as response:
            assert response.status == 202, await response.text()

        async def keyed() -> list[Any]:
            return await provider.ready_replicas("legacy", ns)

        (new,) = await eventually(keyed, lambda rs: len(rs) == 1 and rs[0].key is not None, 90)
        assert new.key == await _secret_key(admin, "legacy", ns)
        assert (await Api(http, "legacy").call("x"))[0] == 200
        assert await _direct(new.url) == 403
