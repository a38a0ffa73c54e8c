"""Fixtures of the Kubernetes provider tests: the provider against the schema-validating test API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyfaas.provider.kubernetes import KubernetesProvider
from tests.support.kube_provider import KubeStack, kube_stack


def pytest_configure(config: pytest.Config) -> None:
    # The shared contract tests re-run here carry these marks; register them when run on their own.
    config.addinivalue_line("markers", "local_processes: needs the local provider's processes (local only)")
    config.addinivalue_line("markers", "invokes: calls function replicas over HTTP")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[KubeStack]:
    async with kube_stack(tmp_path) as running:
        yield running
        running.assert_every_body_valid()


@pytest.fixture
def provider(stack: KubeStack) -> KubernetesProvider:
    return stack.provider
