"""One timeout per function on the real test cluster: functions in pods, gateway and queue on the host.

The gateway runs in this process over a ``KubernetesProvider`` (as ``test_pods``), with async calls on a
real nats-server and a real ``python -m pyfaas.worker``; the function is a python3-http image imported into
the cluster's containerd, whose Dockerfile sets ``exec_timeout=30s``/``write_timeout=35s``. The gateway's and
the worker's own timeouts are 1.5 s, so the 60 s function answering after 2 s proves every component took
the function's timeout without waiting 60 s; the pod's environment shows the watchdog's derived settings.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from pyfaas.core.timeouts import ANNOTATION_TIMEOUT
from pyfaas.core.tracecontext import trace_id_of
from pyfaas.gateway.app import create_app
from pyfaas.gateway.async_calls.routes import AsyncSettings
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderSettings
from tests.integration.kubernetes.test_pods import FUNCTION_ENV, Api, provider_env
from tests.support.async_calls import CallbackReceiver
from tests.support.kube_cluster import KubeCluster
from tests.support.kube_image import function_image, import_archive
from tests.support.nats import NatsServer
from tests.support.providers import serve_app
from tests.support.timeouts import SLEEPER, final_record
from tests.support.worker_process import WorkerProcess

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def sleeper_image(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    if kube_cluster.containerd_address is None:
        pytest.skip("images cannot be imported into this cluster (no kit.env beside the kubeconfig)")
    out = tmp_path_factory.mktemp("sleeper") / "sleeper.tar"
    reference = "localhost/pyfaas-test/sleeper:v1"
    function_image(reference, out, handler=SLEEPER)
    import_archive(kube_cluster.containerd_address, out)
    out.unlink()
    return reference


@asynccontextmanager
async def _platform(
    cluster: KubeCluster, namespace: str, root: Path, receiver: CallbackReceiver
) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    nats = NatsServer(root)
    await asyncio.to_thread(nats.start)
    provider = KubernetesProvider(
        KubernetesProviderSettings.from_env(provider_env(cluster, namespace)).config()
    )
    env = {"provider": "kubernetes", "function_namespace": namespace, "upstream_timeout": "1500ms"}
    app = create_app(
        GatewaySettings.from_env(env),
        provider,
        registry=CollectorRegistry(),
        async_settings=AsyncSettings.from_env({"nats_url": nats.url}),
    )
    worker: WorkerProcess | None = None
    try:
        async with serve_app(app) as url, aiohttp.ClientSession(base_url=url) as http:
            worker = WorkerProcess(
                {
                    "nats_url": nats.url,
                    "gateway_url": url,
                    "upstream_timeout": "1500ms",
                    "ack_wait": "2s",
                    "discovery_interval": "100ms",
                    "idle_poll": "1s",
                    "metrics_port": "-1",
                },
                root,
            )
            worker.start()
            yield http, receiver.url
    finally:
        if worker is not None:
            worker.kill()
        nats.kill()


async def test_one_timeout_per_function_in_pods_sync_and_async(
    kube_cluster: KubeCluster, kube_namespace: str, sleeper_image: str, tmp_path: Path
) -> None:
    receiver = CallbackReceiver()
    await receiver.start()
    try:
        async with _platform(kube_cluster, kube_namespace, tmp_path, receiver) as (http, callback_url):
            await _check(http, callback_url, receiver, kube_namespace, sleeper_image)
    finally:
        await receiver.close()


async def _check(
    http: aiohttp.ClientSession, callback_url: str, receiver: CallbackReceiver, namespace: str, image: str
) -> None:
    for name, timeout in (("t1", "1s"), ("t60", "60s")):
        spec = {
            "service": name,
            "image": image,
            "envVars": FUNCTION_ENV,
            "annotations": {ANNOTATION_TIMEOUT: timeout},
        }
        async with http.post("/system/functions", json=spec) as response:
            assert response.status == 202, await response.text()
    t1, t60 = Api(http, "t1"), Api(http, "t60")
    await t1.available(1)
    await t60.available(1)
    # the derived watchdog variables are the platform's, not the function's envVars
    assert (await t60.status())["envVars"] == FUNCTION_ENV

    # sync: past 1 s → 504 naming the function and the limit; 2 s under 60 s → answered
    async with http.get("/function/t1?s=3") as response:
        assert response.status == 504
        assert await response.json() == {
            "error": f"function t1.{namespace} did not answer within its timeout of 1s",
            "function": f"t1.{namespace}",
            "timeout": "1s",
        }
    trace = uuid.uuid4().hex
    headers = {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    async with http.get("/function/t60?s=2", headers=headers) as response:
        assert response.status == 200, await response.text()
        answer = await response.json()
    assert answer["slept"] == 2.0 and answer["trace_id"] == trace
    # the pod's watchdog runs with the settings derived from 60 s (the image's 30 s/35 s are overridden)
    assert answer["settings"] == {
        "exec_timeout": "1m5s",
        "write_timeout": "1m10s",
        "read_timeout": "1m10s",
    }

    # async: the same limits through NATS and the worker
    calls = {}
    for path in ("/async-function/t1?s=3", "/async-function/t60?s=2"):
        async with http.post(path, headers={"X-Callback-Url": callback_url, **headers}) as response:
            assert response.status == 202, await response.text()
            calls[path] = response.headers["X-Call-Id"]
    timed_out = await final_record(http, calls["/async-function/t1?s=3"], 60)
    assert timed_out["state"] == "failed" and timed_out["lastStatus"] == 504, timed_out
    assert timed_out["error"].startswith("timed out after 1s") and timed_out["traceId"] == trace
    answered = await final_record(http, calls["/async-function/t60?s=2"], 60)
    assert answered["state"] == "succeeded" and answered["attempts"] == 1, answered
    deadline = time.monotonic() + 20
    while not all(receiver.received.get(call_id) for call_id in calls.values()):
        assert time.monotonic() < deadline, dict(receiver.received)
        await asyncio.sleep(0.05)
    cb_headers, cb_body = receiver.received[calls["/async-function/t1?s=3"]][-1]
    assert cb_headers["X-Function-Status"] == "504" and json.loads(cb_body)["timeout"] == "1s"
    assert trace_id_of(cb_headers["traceparent"]) == trace
