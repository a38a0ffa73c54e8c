"""Fixtures every platform-in-the-cluster module shares, session-scoped so a session builds and imports the
platform images once and runs one Service-name resolver, whichever modules it runs. Each module deploys its
own stack (its own namespaces and configuration) with :func:`tests.support.kube_platform.deployed_platform`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.kube_cluster import KubeCluster
from tests.support.kube_dns import ServiceDns, service_dns
from tests.support.kube_platform import PlatformImages, build_platform_images


@pytest.fixture(scope="session")
def cluster(kube_cluster: KubeCluster) -> KubeCluster:
    if kube_cluster.containerd_address is None or kube_cluster.pod_gateway is None:
        pytest.skip("the platform test needs a kit cluster (images imported, the pod bridge)")
    if os.geteuid() != 0:
        pytest.skip("the Service-name resolver binds port 53 and the test kills a pod's process: needs root")
    return kube_cluster


@pytest.fixture(scope="session")
def images(cluster: KubeCluster) -> PlatformImages:
    return build_platform_images(cluster)


@pytest.fixture(scope="session")
def dns(cluster: KubeCluster) -> Iterator[ServiceDns]:
    assert cluster.pod_gateway is not None
    with service_dns(cluster.kubeconfig, cluster.pod_gateway) as server:
        yield server
