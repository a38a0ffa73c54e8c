"""The gateway process's composition: provider choice and optional extensions from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.core.errors import ConfigError
from pyfaas.gateway.__main__ import build_async_settings, build_provider
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.provider.local import LocalProvider
from pyfaas.provider.remote import RemoteProvider


def test_local_provider_by_default(tmp_path: Path) -> None:
    env = {"state_dir": str(tmp_path), "function_namespace": "team-x"}
    provider = build_provider(GatewaySettings.from_env(env), env)
    assert isinstance(provider, LocalProvider)
    assert provider.default_namespace == "team-x"


def test_local_replicas_get_the_gateways_body_limit(tmp_path: Path) -> None:
    env = {"state_dir": str(tmp_path), "max_body_bytes": "70000000"}
    provider = build_provider(GatewaySettings.from_env(env), env)
    assert isinstance(provider, LocalProvider)
    assert provider.config.max_body_bytes == 70_000_000


def test_remote_provider_when_a_provider_url_is_given(tmp_path: Path) -> None:
    (tmp_path / "basic-auth-user").write_text("admin")
    (tmp_path / "basic-auth-password").write_text("pw")
    env = {
        "functions_provider_url": "http://127.0.0.1:8081/",
        "basic_auth": "true",
        "secret_mount_path": str(tmp_path),
    }
    provider = build_provider(GatewaySettings.from_env(env), env)
    assert isinstance(provider, RemoteProvider)
    assert provider.base_url == "http://127.0.0.1:8081"


def test_kubernetes_provider_is_imported_only_when_chosen() -> None:
    env = {"provider": "kubernetes", "kube_api_server": "http://127.0.0.1:1"}
    provider = build_provider(GatewaySettings.from_env(env), env)
    assert type(provider).__name__ == "KubernetesProvider"


def test_missing_auth_files_are_a_config_error(tmp_path: Path) -> None:
    env = {"functions_provider_url": "http://p/", "basic_auth": "true", "secret_mount_path": str(tmp_path)}
    with pytest.raises(ConfigError):
        build_provider(GatewaySettings.from_env(env), env)


def test_async_routes_only_with_nats() -> None:
    assert build_async_settings({}) is None
    configured = build_async_settings({"faas_nats_address": "127.0.0.1", "faas_nats_port": "4222"})
    assert configured is not None and configured.nats_servers() == ["nats://127.0.0.1:4222"]
