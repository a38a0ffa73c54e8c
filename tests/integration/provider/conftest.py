"""``any_provider``: the provider contract suite runs once per provider implementation.

Params: ``local`` (LocalProvider); ``remote`` (RemoteProvider over HTTP in front of a LocalProvider served by
``tests.support.providers.faas_provider_app``, shaped like faasd's or faas-netes' provider API); ``gateway``
(RemoteProvider in front of the real pyfaas gateway, ``pyfaas.gateway.app.create_app``, over a
LocalProvider); ``kubernetes-live`` (KubernetesProvider against the session's real cluster, fixture
``kube_cluster`` of ``tests.support.kube_live``: skipped without one; it works in the namespaces
``openfaas-fn`` and ``dev``, reset before each test); ``operator-live`` (the same, in operator mode: an
OperatorProvider writing Function objects and a ``pyfaas-operator`` process reconciling them,
``tests.support.operator_live``). The schema-checking fake API server is no contract
kind any more: it serves only the fault tests in ``tests/integration/kubernetes``.
Markers narrow a test: ``local_processes`` (inspects the local provider's processes: local only) and
``invokes`` (calls replicas over HTTP: every kind but kubernetes-live, whose pods cannot load the handler
files these tests write on the host; real pods serve in ``tests/integration/kubernetes/test_pods.py``).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pyfaas.provider.base import Provider
from pyfaas.provider.local import LocalProvider, LocalProviderConfig
from pyfaas.provider.remote import RemoteProvider
from tests.support.kube_live import KUBE_GROUP, live_contract_provider
from tests.support.operator_live import contract_operator, live_operator_provider  # noqa: F401 (fixture)
from tests.support.providers import faas_provider_app, local_provider, serve_app

if TYPE_CHECKING:
    from tests.support.kube_cluster import KubeCluster

KINDS = [
    "local",
    "remote",
    "gateway",
    # these two ask for the cluster by getfixturevalue, which the xdist grouping cannot see: marked here
    pytest.param("kubernetes-live", marks=pytest.mark.xdist_group(KUBE_GROUP)),
    pytest.param("operator-live", marks=pytest.mark.xdist_group(KUBE_GROUP)),
]
CREDENTIALS = ("admin", "s3cret-pass")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "local_processes: needs the local provider's processes (local only)")
    config.addinivalue_line("markers", "invokes: calls function replicas over HTTP (local and remote)")


def _skip_unless_supported(request: pytest.FixtureRequest, kind: str) -> None:
    if request.node.get_closest_marker("local_processes") and kind != "local":
        pytest.skip("inspects local replica processes")
    if request.node.get_closest_marker("invokes") and kind in ("kubernetes-live", "operator-live"):
        pytest.skip("the handlers are files on the host; pods cannot load them")


@pytest.fixture(params=KINDS)
def provider_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    _skip_unless_supported(request, kind)
    return kind


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
async def any_provider(
    provider_kind: str, state_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Provider]:
    if provider_kind == "local":
        async with local_provider(state_dir) as provider:
            yield provider
    elif provider_kind == "remote":
        async with (
            local_provider(state_dir) as backend,
            serve_app(faas_provider_app(backend, credentials=CREDENTIALS)) as url,
        ):
            remote = RemoteProvider(
                url, credentials=CREDENTIALS, default_namespace=backend.default_namespace, status_ttl=0.1
            )
            await remote.start()
            try:
                yield remote
            finally:
                await remote.close()
    elif provider_kind == "gateway":
        async with _gateway_provider(state_dir, tmp_path) as provider:
            yield provider
    elif provider_kind == "operator-live":
        live = request.getfixturevalue("kube_cluster")
        operator = request.getfixturevalue("contract_operator")  # one operator process for the session
        async with live_operator_provider(live, operator) as provider:
            yield provider
    else:
        cluster: KubeCluster = request.getfixturevalue("kube_cluster")  # only this kind starts a cluster
        from pyfaas.provider.kubernetes import KubernetesProvider

        async with live_contract_provider(cluster, KubernetesProvider) as provider:
            yield provider


@contextlib.asynccontextmanager
async def _gateway_provider(state_dir: Path, tmp_path: Path) -> AsyncIterator[Provider]:
    """A RemoteProvider talking to the pyfaas gateway (basic auth on) that runs a LocalProvider."""
    if importlib.util.find_spec("pyfaas.gateway.app") is None:
        pytest.skip("the pyfaas gateway is not present")
    from prometheus_client import CollectorRegistry

    from pyfaas.gateway.app import create_app
    from pyfaas.gateway.settings import GatewaySettings

    secrets = tmp_path / "gateway-secrets"
    secrets.mkdir()
    (secrets / "basic-auth-user").write_text(CREDENTIALS[0])
    (secrets / "basic-auth-password").write_text(CREDENTIALS[1])
    settings = GatewaySettings(basic_auth=True, secret_mount_path=str(secrets), state_dir=str(state_dir))
    backend = LocalProvider(LocalProviderConfig(state_dir=state_dir))  # the app starts and closes it
    app = create_app(settings, backend, registry=CollectorRegistry())
    async with serve_app(app) as url:
        remote = RemoteProvider(url, credentials=CREDENTIALS, status_ttl=0.1)
        await remote.start()
        try:
            yield remote
        finally:
            await remote.close()
