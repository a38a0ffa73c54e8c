"""Where the gateway keeps private functions' credentials: shared through the Kubernetes provider when it
knows the gateway's namespace, else in the gateway's state directory (one gateway, local mode)."""

from __future__ import annotations

from pathlib import Path

from pyfaas.gateway.invocation.credentials import FileBackend, SharedBackend, backend_for
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderConfig
from pyfaas.provider.local import LocalProvider, LocalProviderConfig


def test_the_kubernetes_provider_with_the_gateway_namespace_shares_them(tmp_path: Path) -> None:
    shared = KubernetesProvider(
        KubernetesProviderConfig(api_server="http://127.0.0.1:9", gateway_namespace="openfaas")
    )
    backend = backend_for(tmp_path, shared)
    assert isinstance(backend, SharedBackend) and backend.shared
    assert backend.where == "Secret openfaas/pyfaas-function-auth"


def test_otherwise_the_state_directory_keeps_them(tmp_path: Path) -> None:
    unnamed = KubernetesProvider(KubernetesProviderConfig(api_server="http://127.0.0.1:9"))
    local = LocalProvider(LocalProviderConfig(state_dir=tmp_path / "state"))
    for provider in (unnamed, local):
        backend = backend_for(tmp_path / "auth", provider)
        assert isinstance(backend, FileBackend) and not backend.shared
        assert backend.where == str(tmp_path / "auth")
