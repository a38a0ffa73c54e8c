"""The platform's images from ``pyfaas build --platform-image``, run as pods on the real test cluster.

Built on the suite's Debian bookworm base (:func:`tests.support.kube_image.python_base_layer`), written as
archives, imported into the cluster's containerd, and run with the security settings the Pulumi program
gives them (non-root, read-only root filesystem, no capabilities): NATS, Prometheus and AlertManager with
their images' own entrypoint and arguments become Ready on their health endpoints; the pyfaas image runs
every service's entry point as uid 10001 without writing outside /tmp.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod

from pyfaas.build import platform
from pyfaas.build.oci import Image, build_image, write_archive
from tests.support.kube_cluster import KubeCluster
from tests.support.kube_image import import_archive, python_base_layer
from tests.support.kube_live import admin_client

pytestmark = pytest.mark.timeout(900)
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def client(kube_cluster: KubeCluster) -> AsyncIterator[tuple[AsyncClient, str]]:
    if kube_cluster.containerd_address is None:
        pytest.skip("images cannot be imported into this cluster (no kit.env beside the kubeconfig)")
    namespace = f"b-{uuid.uuid4().hex[:8]}"
    async with admin_client(kube_cluster.kubeconfig) as api:
        await api.create(Namespace(metadata=ObjectMeta(name=namespace)))
        try:
            yield api, namespace
        finally:
            await api.delete(Namespace, namespace)


def _import(cluster: KubeCluster, image: Image, reference: str, folder: Path) -> str:
    assert cluster.containerd_address is not None
    archive = folder / (reference.rsplit("/", 1)[1].replace(":", "-") + ".tar")
    write_archive(image, archive, reference)
    import_archive(cluster.containerd_address, archive)
    archive.unlink()
    return reference


def _pod(
    name: str,
    image: str,
    uid: int,
    *,
    port: int = 0,
    args: list[str] | None = None,
    command: list[str] | None = None,
    namespace: str = "",
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if args is not None:
        container["args"] = args
    if command is not None:
        container["command"] = command
    if port:
        container["readinessProbe"] = {
            "httpGet": {"path": "/-/ready" if port != 8222 else "/healthz", "port": port},
            "periodSeconds": 1,
        }
    volumes = [{"name": "tmp", "emptyDir": {}}]
    for data in ("/prometheus", "/alertmanager"):
        if data.strip("/") in name:
            container["volumeMounts"].append({"name": "data", "mountPath": data})
            volumes.append({"name": "data", "emptyDir": {}})
    return {
        "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"fsGroup": uid},
            "containers": [container],
            "volumes": volumes,
        },
    }


async def _log(api: AsyncClient, namespace: str, name: str) -> str:
    return "".join([line async for line in api.log(name, namespace=namespace)])


async def _wait(api: AsyncClient, namespace: str, name: str, *, ready: bool) -> Pod:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pod = await api.get(Pod, name, namespace=namespace)
        status = pod.status
        phase = status.phase if status else None
        if (
            ready
            and status
            and any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])
        ):
            return pod
        if phase in ("Succeeded", "Failed"):
            assert not ready, f"{name} ended ({phase}): {await _log(api, namespace, name)}"
            return pod
        await asyncio.sleep(0.5)
    raise AssertionError(
        f"{name} did not become {'ready' if ready else 'done'}: {await _log(api, namespace, name)}"
    )


async def test_nats_prometheus_alertmanager_images_serve(
    kube_cluster: KubeCluster, client: tuple[AsyncClient, str], tmp_path: Path
) -> None:
    api, namespace = client
    base = build_image(None, [python_base_layer()])
    nats = _import(kube_cluster, platform.nats_image(tmp_path), "localhost/pyfaas-b/nats:test", tmp_path)
    prometheus = _import(
        kube_cluster,
        platform.prometheus_image(base, tmp_path),
        "localhost/pyfaas-b/prometheus:test",
        tmp_path,
    )
    alertmanager = _import(
        kube_cluster,
        platform.alertmanager_image(base, tmp_path),
        "localhost/pyfaas-b/alertmanager:test",
        tmp_path,
    )
    pods = [
        # the program's NATS command, with flags instead of its config file
        _pod("nats", nats, 1000, port=8222, command=["nats-server", "-js", "-sd", "/tmp/js", "-m", "8222"]),
        _pod("prometheus", prometheus, 65534, port=9090),  # the image's entrypoint and arguments
        _pod(
            "alertmanager",
            alertmanager,
            65534,
            port=9093,
            args=[
                "--config.file=/etc/alertmanager/alertmanager.yml",
                "--storage.path=/alertmanager",
                "--cluster.listen-address=",
            ],
        ),
    ]
    for body in pods:
        await api.create(
            cast(Pod, Pod.from_dict({**body, "metadata": {**body["metadata"], "namespace": namespace}}))
        )
    for body in pods:
        await _wait(api, namespace, body["metadata"]["name"], ready=True)


async def test_pyfaas_image_runs_every_service_entry_point(
    kube_cluster: KubeCluster, client: tuple[AsyncClient, str], tmp_path: Path
) -> None:
    api, namespace = client
    base = build_image(None, [python_base_layer()])
    image = _import(
        kube_cluster,
        platform.platform_image(REPO_ROOT, base, tmp_path),
        "localhost/pyfaas-b/pyfaas:test",
        tmp_path,
    )
    # every console script is there and imports its service (the servers themselves need the platform)
    script = (
        "set -e; id -u; "
        "for s in pyfaas pyfaas-gateway pyfaas-worker pyfaas-idler pyfaas-operator pyfaas-watchdog; "
        "do test -x /opt/pyfaas/bin/$s; echo ok $s; done; pyfaas version >/dev/null 2>&1 || true; "
        "pyfaas-watchdog --help >/dev/null; python3 -c 'import sys; import pyfaas.gateway.__main__, "
        "pyfaas.worker.__main__, pyfaas.idler.__main__, pyfaas.operator.__main__; print(sys.prefix)'"
    )
    await api.create(
        cast(
            Pod,
            Pod.from_dict(_pod("pyfaas", image, 10001, command=["sh", "-c", script], namespace=namespace)),
        )
    )
    pod = await _wait(api, namespace, "pyfaas", ready=False)
    log = await _log(api, namespace, "pyfaas")
    assert pod.status is not None and pod.status.phase == "Succeeded", log
    lines = log.split()
    assert lines[0] == "10001" and "/opt/pyfaas" in lines
    for service in (
        "pyfaas",
        "pyfaas-gateway",
        "pyfaas-worker",
        "pyfaas-idler",
        "pyfaas-operator",
        "pyfaas-watchdog",
    ):
        assert f"ok {service}" in log
