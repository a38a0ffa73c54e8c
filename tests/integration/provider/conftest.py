"""``any_provider``: the provider contract suite runs once per provider implementation.

Params: ``local`` (LocalProvider), ``remote`` (RemoteProvider over HTTP in front of a LocalProvider served
by ``tests.support.providers.faas_provider_app``) and ``kubernetes`` (``tests.support.kube_provider``,
skipped until that module exists). Markers narrow a test: ``local_processes`` (inspects the local
provider's processes: local only) and ``invokes`` (calls replicas over HTTP: local and remote).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.provider.base import Provider
from runtime.provider.remote import RemoteProvider
from tests.support.providers import faas_provider_app, local_provider, serve_app

KINDS = ["local", "remote", "kubernetes"]
CREDENTIALS = ("admin", "s3cret-pass")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "local_processes: needs the local provider's processes (local only)")
    config.addinivalue_line("markers", "invokes: calls function replicas over HTTP (local and remote)")


def _skip_unless_supported(request: pytest.FixtureRequest, kind: str) -> None:
    if request.node.get_closest_marker("local_processes") and kind != "local":
        pytest.skip("inspects local replica processes")
    if request.node.get_closest_marker("invokes") and kind == "kubernetes":
        pytest.skip("no reachable replicas without a cluster")


@pytest.fixture(params=KINDS)
def provider_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    _skip_unless_supported(request, kind)
    return kind


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
async def any_provider(provider_kind: str, state_dir: Path, tmp_path: Path) -> AsyncIterator[Provider]:
    if provider_kind == "local":
        async with local_provider(state_dir) as provider:
            yield provider
    elif provider_kind == "remote":
        async with (
            local_provider(state_dir) as backend,
            serve_app(faas_provider_app(backend, credentials=CREDENTIALS)) as url,
        ):
            remote = RemoteProvider(url, credentials=CREDENTIALS, default_namespace=backend.default_namespace)
            await remote.start()
            try:
                yield remote
            finally:
                await remote.close()
    else:
        if importlib.util.find_spec("tests.support.kube_provider") is None:
            pytest.skip("kubernetes provider support not yet present")
        module = importlib.import_module("tests.support.kube_provider")
        async with module.kubernetes_provider(tmp_path) as provider:
            yield provider
