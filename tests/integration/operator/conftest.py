"""Fixtures of the operator tests on the session's real cluster (``kube_cluster`` of
``tests.support.kube_live``: skipped without one; its ``kubeconfig`` fixture too). Each test gets a fresh
``op-`` namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lightkube import AsyncClient

from tests.support.operator_cluster import cluster_client, install_crd, op_namespace


@pytest.fixture
async def client(kubeconfig: Path) -> AsyncIterator[AsyncClient]:
    async with cluster_client(kubeconfig) as connected:
        await install_crd(connected)
        yield connected


@pytest.fixture
async def namespace(client: AsyncClient) -> AsyncIterator[str]:
    async with op_namespace(client) as name:
        yield name


@pytest.fixture(scope="session")
def http_image(echo_images: tuple[str, str]) -> str:
    """A python3-http function image (pyfaas watchdog) answering ``v1:<pod>:<body>`` on 8080."""
    return echo_images[0]
