"""What a function sees from inside its pod on the real test cluster (issue 18 part 1, cluster mode): it runs
as a non-root user (``set_nonroot_user``), its root filesystem is read-only (``readOnlyRootFilesystem``: only
``/tmp`` is writable), no service account token is mounted, and of the namespace's secrets only its own are
at the secret mount path. The local sandbox (``pyfaas.provider.local.sandbox``) gives the same guarantees."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from pyfaas.gateway.app import create_app
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderSettings
from tests.integration.kubernetes.test_pods import FAST_PROBES, FUNCTION_ENV, Api
from tests.support.kube_cluster import KubeCluster
from tests.support.kube_image import function_image, import_archive
from tests.support.providers import serve_app

pytestmark = pytest.mark.timeout(300)

PROBE = """
import json, os

def handle(event, context):
    out = {"uid": os.getuid(), "gid": os.getgid()}
    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    out["token"] = os.path.exists(token)
    out["secrets"] = sorted(n for n in os.listdir("/var/openfaas/secrets") if not n.startswith(".."))
    with open("/var/openfaas/secrets/own-key") as f:
        out["own"] = f.read()
    for path in ("/probe-root", "/home/app/probe", "/etc/probe", "/tmp/probe"):
        try:
            with open(path, "w") as f:
                f.write("x")
            out[path] = "wrote"
        except OSError as exc:
            out[path] = type(exc).__name__ + ":" + str(exc.errno)
    return {"statusCode": 200, "body": json.dumps(out)}
"""


@pytest.fixture(scope="module")
def probe_image(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    if kube_cluster.containerd_address is None:
        pytest.skip("images cannot be imported into this cluster (no kit.env beside the kubeconfig)")
    reference = "localhost/pyfaas-test/isolation-probe:v1"
    archive = tmp_path_factory.mktemp("isolation") / "probe.tar"
    function_image(reference, archive, handler=PROBE)
    import_archive(kube_cluster.containerd_address, archive)
    return reference


async def test_a_function_pod_is_non_root_read_only_and_without_a_token(
    kube_cluster: KubeCluster, kube_namespace: str, probe_image: str, tmp_path: Path
) -> None:
    env = {
        "KUBECONFIG": str(kube_cluster.kubeconfig),
        "function_namespace": kube_namespace,
        "set_nonroot_user": "true",
        **FAST_PROBES,
    }
    provider = KubernetesProvider(KubernetesProviderSettings.from_env(env).config())
    settings = GatewaySettings.from_env(
        {
            "provider": "kubernetes",
            "function_namespace": kube_namespace,
            "scale_from_zero_timeout": "60s",
            "state_dir": str(tmp_path / "gateway-state"),
        }
    )
    app = create_app(settings, provider, registry=CollectorRegistry())
    async with serve_app(app) as url, aiohttp.ClientSession(base_url=url) as http:
        for name, value in (("own-key", "mine"), ("other-key", "not mine")):
            async with http.post("/system/secrets", json={"name": name, "value": value}) as response:
                assert response.status in (200, 201, 202), await response.text()
        spec = {
            "service": "isolated",
            "image": probe_image,
            "envVars": FUNCTION_ENV,
            "secrets": ["own-key"],
            "readOnlyRootFilesystem": True,
        }
        async with http.post("/system/functions", json=spec) as response:
            assert response.status == 202, await response.text()
        api = Api(http, "isolated")
        await api.available(1)
        async with http.post("/function/isolated", data=b"") as response:
            assert response.status == 200, await response.text()
            seen = json.loads(await response.text())

    assert seen["uid"] == 12000, seen  # faas-netes's non-root uid (the group stays 0, as there)
    assert seen["token"] is False, seen  # automountServiceAccountToken: false
    assert seen["secrets"] == ["own-key"] and seen["own"] == "mine", seen
    for path in ("/probe-root", "/home/app/probe", "/etc/probe"):
        assert seen[path].startswith("OSError:30") or seen[path].startswith("PermissionError"), (path, seen)
        assert not seen[path].startswith("wrote")
    assert seen["/tmp/probe"] == "wrote", seen
    assert seen["/probe-root"] == "OSError:30", seen  # EROFS: the root filesystem itself is read-only
