"""The test cluster's own guarantees: registry pulls never leave the machine, and the leftover check sees
what a teardown could leave behind (so that its "nothing left" can be believed)."""

from __future__ import annotations

import hashlib
import lzma
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from lightkube.resources.core_v1 import Event, Pod

from tests.support import polling
from tests.support.kube_assets import BINARIES, AssetError, resolve_assets
from tests.support.kube_cluster import KubeCluster
from tests.support.kube_host import leftovers
from tests.support.kube_live import admin_client

pytestmark = pytest.mark.timeout(120)


async def test_a_registry_image_is_refused_at_once_without_leaving_the_machine(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    if kube_cluster.containerd_address is None:
        pytest.skip("not a kit cluster: its image pulls may be allowed")
    pod = {
        "metadata": {"name": "pull"},
        "spec": {"containers": [{"name": "c", "image": "registry.example.org/nothing:1"}]},
    }
    refused = "proxyconnect tcp: dial tcp 127.0.0.1:9"  # the blocked proxy: the pull never left the machine
    async with admin_client(kube_cluster.kubeconfig) as client:
        await client.create(Pod.from_dict(pod), namespace=kube_namespace)

        async def pull_failures() -> list[str]:
            # The pod's waiting message turns into "Back-off pulling image" between attempts; the kubelet's
            # Failed events keep each attempt's error.
            events = client.list(Event, namespace=kube_namespace, fields={"involvedObject.name": "pull"})
            return [event.message or "" async for event in events if event.reason == "Failed"]

        messages = await polling.eventually(
            pull_failures, lambda found: any(refused in m for m in found), 60, what="the pull's failure event"
        )
    assert any(refused in message for message in messages), messages


def local_leftovers(folder: Path, bridge: str, settle: float) -> list[str]:
    """Leftovers of this folder and bridge (iptables chains and kubepods cgroups are host-wide: a running
    dev cluster owns some)."""
    host_wide = ("iptables-save", "ip6tables-save", "cgroup ")
    return [f for f in leftovers(folder, bridge, settle=settle) if not f.startswith(host_wide)]


@pytest.mark.skipif(os.geteuid() != 0, reason="creates a bridge and a mount (root)")
def test_the_leftover_check_sees_processes_mounts_and_bridges(tmp_path: Path) -> None:
    folder = tmp_path / "cluster"
    (folder / "mnt").mkdir(parents=True)
    bridge = f"pyft{uuid.uuid4().hex[:6]}"
    assert local_leftovers(folder, bridge, settle=0) == []

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(folder)])
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(folder / "mnt")], check=True)
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    try:
        found = local_leftovers(folder, bridge, settle=0)
        assert any(f.startswith(f"process {sleeper.pid}:") for f in found), found
        assert f"mount {folder / 'mnt'}" in found and f"bridge {bridge}" in found
    finally:
        sleeper.kill()
        sleeper.wait()
        subprocess.run(["umount", str(folder / "mnt")], check=True)
        subprocess.run(["ip", "link", "del", bridge], check=True)
    assert local_leftovers(folder, bridge, settle=5) == []


def test_assets_plain_or_xz_are_checked_against_sha256sums_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYFAAS_KUBE_CACHE", str(tmp_path / "cache"))
    assets = tmp_path / "assets"
    assets.mkdir()
    contents = {name: f"#!/bin/sh\necho {name}\n".encode() for name in BINARIES}
    for index, (name, data) in enumerate(contents.items()):
        if index % 2:
            (assets / f"{name}.xz").write_bytes(lzma.compress(data))
        else:
            (assets / name).write_bytes(data)
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in contents.items())
    (assets / "SHA256SUMS").write_text(sums)

    ready = resolve_assets(assets)
    assert {name: (ready / name).read_bytes() for name in BINARIES} == contents
    assert all(os.access(ready / name, os.X_OK) for name in BINARIES)
    assert resolve_assets(assets) == ready  # cached: same folder, nothing unpacked again

    (assets / "kubelet.xz").write_bytes(lzma.compress(b"tampered"))
    with pytest.raises(AssetError, match=r"kubelet.*checksum"):
        resolve_assets(assets)
    (assets / "kubelet.xz").unlink()
    with pytest.raises(AssetError, match=r"no kubelet or kubelet\.xz"):
        resolve_assets(assets)
