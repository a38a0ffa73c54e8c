"""Fixtures of the operator tests on the real test cluster (skipped without ``PYFAAS_TEST_KUBECONFIG``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lightkube import AsyncClient

from tests.support.operator_cluster import cluster_client, install_crd, kubeconfig_path, op_namespace
from tests.support.operator_image import ensure_http_image


@pytest.fixture
def kubeconfig() -> Path:
    return kubeconfig_path()


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
def http_image() -> str:
    """A function image that serves ``/_/health`` and ``/`` on 8080 (imported into the kit once)."""
    return ensure_http_image(kubeconfig_path().parent)
