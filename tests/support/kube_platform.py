"""The whole platform on the real test cluster, deployed the way ``pulumi up`` deploys it.

The Pulumi program is rendered under Pulumi's mocks (:mod:`tests.support.infra`) with the locally built
images as stack config (``pyfaas:image``, ``pyfaas:nats.image``, ...), and every object is applied as
pulumi-kubernetes applies it (:func:`tests.integration.kubernetes.live.pulumi_apply`: server-side apply with
its field manager). Two things the test cluster lacks, the harness supplies instead of changing the
program's objects' meaning:

* **DNS.** :mod:`tests.support.kube_dns` serves Service names on the pod bridge's gateway. A cluster whose
  kubelet has that address as ``clusterDNS`` (``KubeCluster.cluster_dns``) needs nothing more; on one
  without (the shared dev cluster), the platform's pod templates get the ``dnsConfig`` the kubelet would
  have written (``dnsPolicy: None``, the same nameserver, search list and ``ndots:5``).
* **A volume for NATS.** No provisioner, and the kit's controller manager runs without the
  persistentvolume-binder: the harness is a local static provisioner and binder. It makes a hostPath
  PersistentVolume for the StatefulSet's claim (``data-2gi-nats-0``) and, once the claim exists, binds the
  two as the binder would (``volumeName``, the bind annotations, both ``Bound``). The program's persistence
  is unchanged.
* **Prometheus's pod discovery.** Debian's ``prometheus`` (the local image's binary) is built without
  ``kubernetes_sd_configs`` and refuses the program's configuration: the harness replaces the gateway
  job's pod discovery with the gateway Service as a static target (one gateway replica: the same target)
  and drops the ``pyfaas-pods`` job (worker and idler metrics, which no alert reads). With the public
  ``prom/prometheus`` image the program's configuration is used as it is.

Images are the product builder's (:mod:`pyfaas.build.platform`) on the suite's Debian bookworm base, written
as archives and imported into the cluster's containerd.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import yaml
from lightkube import AsyncClient, codecs
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import Namespace, PersistentVolume, PersistentVolumeClaim, Service
from lightkube.types import PatchType

from pyfaas.build import platform
from pyfaas.build.oci import Image, build_image, write_archive
from pyfaas.infra.nats_jetstream import claim_name
from tests.integration.kubernetes.live import pulumi_apply
from tests.support.infra import Rendered, render
from tests.support.kube_cluster import KubeCluster
from tests.support.kube_dns import CLUSTER_DOMAIN
from tests.support.kube_image import import_archive, python_base_layer

__all__ = ["Platform", "PlatformImages", "build_platform_images", "deployed_platform"]

REPO_ROOT = Path(__file__).resolve().parents[2]
RBAC_KINDS = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
"""Applied first, as the program's dependencies order them for pulumi-kubernetes (namespaces first)."""
ADMIN_PASSWORD = "e2e-admin-password"


@dataclass(frozen=True)
class PlatformImages:
    pyfaas: str
    nats: str
    prometheus: str
    alertmanager: str

    def stack_config(self) -> dict[str, Any]:
        return {
            "pyfaas:image": self.pyfaas,
            "pyfaas:nats": {"image": self.nats},
            "pyfaas:prometheus": {"image": self.prometheus},
            "pyfaas:alertmanager": {"image": self.alertmanager},
        }


def build_platform_images(cluster: KubeCluster, tag: str = "e2e") -> PlatformImages:
    """Build the four platform images from this checkout and import them (containerd skips known blobs)."""
    assert cluster.containerd_address is not None
    base = build_image(None, [python_base_layer()])
    references = PlatformImages(
        pyfaas=f"localhost/pyfaas-e2e/pyfaas:{tag}",
        nats=f"localhost/pyfaas-e2e/nats:{tag}",
        prometheus=f"localhost/pyfaas-e2e/prometheus:{tag}",
        alertmanager=f"localhost/pyfaas-e2e/alertmanager:{tag}",
    )
    with tempfile.TemporaryDirectory(prefix="pyfaas-e2e-images-") as scratch:
        work = Path(scratch)
        images: dict[str, Image] = {
            references.pyfaas: platform.platform_image(REPO_ROOT, base, work / "pyfaas"),
            references.nats: platform.nats_image(work / "nats"),
            references.prometheus: platform.prometheus_image(base, work / "prometheus"),
            references.alertmanager: platform.alertmanager_image(base, work / "alertmanager"),
        }
        for reference, image in images.items():
            archive = work / "image.tar"
            write_archive(image, archive, reference)
            import_archive(cluster.containerd_address, archive)
            archive.unlink()
    return references


@dataclass
class Platform:
    """A deployed stack: where its gateway answers and how to reach the rest."""

    control: str
    functions: str
    gateway_url: str
    """``http://CLUSTER-IP:8080``: the gateway's Service, from the host (kube-proxy's rules)."""
    rendered: Rendered
    password: str = ADMIN_PASSWORD
    volume_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth("admin", self.password)


def with_resolver(body: dict[str, Any], nameserver: str) -> dict[str, Any]:
    """``body`` with the pod DNS settings a kubelet with ``clusterDNS: [nameserver]`` gives its pods."""
    template = (body.get("spec") or {}).get("template")
    if body["kind"] not in ("Deployment", "StatefulSet") or template is None:
        return body
    out = copy.deepcopy(body)
    namespace = out["metadata"]["namespace"]
    spec = out["spec"]["template"]["spec"]
    spec["dnsPolicy"] = "None"
    spec["dnsConfig"] = {
        "nameservers": [nameserver],
        "searches": [f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN],
        "options": [{"name": "ndots", "value": "5"}],
    }
    return out


def with_static_scrape_targets(body: dict[str, Any]) -> dict[str, Any]:
    """The Prometheus ConfigMap for a binary without Kubernetes discovery (see the module docstring)."""
    if body["kind"] != "ConfigMap" or body["metadata"]["name"] != "prometheus-config":
        return body
    out = copy.deepcopy(body)
    namespace = out["metadata"]["namespace"]
    config = yaml.safe_load(out["data"]["prometheus.yml"])
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] == "gateway":
            job.pop("kubernetes_sd_configs")
            job.pop("relabel_configs")
            target = f"gateway.{namespace}.svc.{CLUSTER_DOMAIN}:8082"
            job["static_configs"] = [{"targets": [target], "labels": {"kubernetes_namespace": namespace}}]
        if "kubernetes_sd_configs" not in job:
            jobs.append(job)
    config["scrape_configs"] = jobs
    out["data"]["prometheus.yml"] = yaml.safe_dump(config, sort_keys=False)
    return out


async def bind_claim(admin: AsyncClient, volume: dict[str, Any], within: float = 60) -> None:
    """Bind the volume to its claim once the StatefulSet controller has made it, as the binder would."""
    ref = volume["spec"]["claimRef"]
    deadline = time.monotonic() + within
    while True:
        try:
            claim = await admin.get(PersistentVolumeClaim, ref["name"], namespace=ref["namespace"])
            break
        except ApiError as exc:
            if exc.status.code != 404 or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    assert claim.metadata is not None
    name = volume["metadata"]["name"]
    await admin.patch(
        PersistentVolume,
        name,
        {"spec": {"claimRef": {**ref, "uid": claim.metadata.uid}}},
        patch_type=PatchType.MERGE,
    )
    await admin.patch(
        PersistentVolume.Status, name, {"status": {"phase": "Bound"}}, patch_type=PatchType.MERGE
    )
    bound = {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes"}
    await admin.patch(
        PersistentVolumeClaim,
        ref["name"],
        {"metadata": {"annotations": bound}, "spec": {"volumeName": name}},
        namespace=ref["namespace"],
        patch_type=PatchType.MERGE,
    )
    await admin.patch(
        PersistentVolumeClaim.Status,
        ref["name"],
        {
            "status": {
                "phase": "Bound",
                "accessModes": volume["spec"]["accessModes"],
                "capacity": volume["spec"]["capacity"],
            }
        },
        namespace=ref["namespace"],
        patch_type=PatchType.MERGE,
    )


def _ordered(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first = [o for kind in RBAC_KINDS for o in objects if o["kind"] == kind]
    return first + [o for o in objects if o["kind"] not in RBAC_KINDS]


def _nats_volume(name: str, claim: str, namespace: str, size: str, folder: Path) -> dict[str, Any]:
    """A hostPath volume pre-bound to the NATS pod's claim (what a static local provisioner makes)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"pyfaas-test": "e2e"}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "hostPath": {"path": str(folder), "type": "Directory"},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }


async def _ready(admin: AsyncClient, kind: type[Deployment] | type[StatefulSet], name: str, ns: str) -> bool:
    workload = await admin.get(kind, name, namespace=ns)
    status, spec = workload.status, workload.spec
    wanted = spec.replicas if spec and spec.replicas is not None else 1
    return bool(status and (status.readyReplicas or 0) >= wanted and (status.updatedReplicas or 0) >= wanted)


async def wait_ready(admin: AsyncClient, rendered: Rendered, namespace: str, within: float = 240) -> None:
    workloads = [
        (Deployment if o["kind"] == "Deployment" else StatefulSet, o["metadata"]["name"])
        for o in rendered.objects()
        if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"].get("namespace") == namespace
    ]
    deadline = time.monotonic() + within
    waiting = [name for _, name in workloads]
    while waiting:
        waiting = [name for kind, name in workloads if not await _ready(admin, kind, name, namespace)]
        if waiting and time.monotonic() > deadline:
            raise AssertionError(f"not ready in {within}s: {waiting}")
        await asyncio.sleep(0.5)


async def wait_gateway(url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=3, trust_env=False) as client:
        while True:
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"the gateway at {url} did not answer in {within}s"
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def deployed_platform(
    admin: AsyncClient,
    cluster: KubeCluster,
    images: PlatformImages,
    config: dict[str, Any] | None = None,
    *,
    prefix: str = "e",
) -> AsyncIterator[Platform]:
    """Apply the program's objects in fresh ``PREFIX-<hex>-sys``/``-fn`` namespaces, wait until every
    workload is ready and the gateway answers on its ClusterIP; delete everything on exit."""
    assert cluster.pod_gateway is not None, "the platform test needs the kit's pod bridge"
    stem = f"{prefix}-{uuid.uuid4().hex[:6]}"
    control, functions = f"{stem}-sys", f"{stem}-fn"
    values = {
        "pyfaas:controlNamespace": control,
        "pyfaas:functionNamespace": functions,
        **images.stack_config(),
    }
    for key, value in (config or {}).items():
        known = values.get(key)
        values[key] = {**known, **value} if isinstance(known, dict) and isinstance(value, dict) else value
    rendered = render(values, admin_password=ADMIN_PASSWORD)
    objects = rendered.objects()
    if cluster.cluster_dns != cluster.pod_gateway:
        objects = [with_resolver(o, cluster.pod_gateway) for o in objects]
    objects = [with_static_scrape_targets(o) for o in objects]
    nats = rendered.object("StatefulSet", "nats", control)
    claim_template = nats["spec"]["volumeClaimTemplates"][0]
    volume_dir = Path(tempfile.mkdtemp(prefix=f"pyfaas-{stem}-nats-"))
    os.chmod(volume_dir, 0o777)  # hostPath ignores fsGroup: NATS runs as uid 1000
    volume = _nats_volume(
        f"{stem}-nats-0",
        f"{claim_template['metadata']['name']}-nats-0",
        control,
        claim_template["spec"]["resources"]["requests"]["storage"],
        volume_dir,
    )
    assert claim_template["metadata"]["name"] == claim_name(volume["spec"]["capacity"]["storage"])
    platform_ = Platform(control, functions, "", rendered, volume_dir=volume_dir)
    applied: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        await admin.create(cast(PersistentVolume, PersistentVolume.from_dict(volume)))
        for body in _ordered(objects):
            await pulumi_apply(admin, body)
            applied.append(body)
        platform_.timings["apply"] = time.monotonic() - started
        await bind_claim(admin, volume)
        await wait_ready(admin, rendered, control)
        platform_.timings["ready"] = time.monotonic() - started
        service = await admin.get(Service, "gateway", namespace=control)
        assert service.spec is not None and service.spec.clusterIP
        platform_.gateway_url = f"http://{service.spec.clusterIP}:8080"
        await wait_gateway(platform_.gateway_url)
        yield platform_
    finally:
        for namespace in (functions, control):
            with contextlib.suppress(ApiError, httpx.HTTPError):
                await admin.delete(Namespace, namespace)
        for body in applied:
            if not body["metadata"].get("namespace") and body["kind"] != "Namespace":
                with contextlib.suppress(ApiError, httpx.HTTPError):
                    await admin.delete(type(codecs.from_dict(body)), body["metadata"]["name"])
        await _delete_volume(admin, volume["metadata"]["name"], volume_dir)


async def _delete_volume(admin: AsyncClient, name: str, folder: Path) -> None:
    """Delete the volume and its folder. Its ``kubernetes.io/pv-protection`` finalizer would stay while the
    volume is Bound, and no binder runs to release it: the finalizer is dropped, as the binder's release
    would let the protection controller do."""
    with contextlib.suppress(ApiError, httpx.HTTPError):
        await admin.delete(PersistentVolume, name)
        await admin.patch(
            PersistentVolume, name, {"metadata": {"finalizers": None}}, patch_type=PatchType.MERGE
        )
    # NATS writes its store as uid 1000: removed by the (root) test process
    shutil.rmtree(folder, ignore_errors=True)
