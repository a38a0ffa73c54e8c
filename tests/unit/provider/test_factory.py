"""The provider factory: the registered names, the builder each picks, and what an unknown name gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.core.errors import ConfigError
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.provider.factory import PROVIDERS, ProviderChoice, create_provider
from pyfaas.provider.local import LocalProvider
from pyfaas.provider.remote import RemoteProvider


def _choice(tmp_path: Path, kind: str, remote_url: str = "") -> ProviderChoice:
    return ProviderChoice(
        kind=kind,
        environ={"kube_api_server": "http://127.0.0.1:1"},
        default_namespace="team-x",
        state_dir=tmp_path,
        max_body_bytes=1000,
        remote_url=remote_url,
    )


def test_each_registered_kind_builds_its_provider(tmp_path: Path) -> None:
    assert set(PROVIDERS) == {"local", "remote", "kubernetes"}
    local = create_provider(_choice(tmp_path, "local"))
    assert isinstance(local, LocalProvider) and local.config.max_body_bytes == 1000
    remote = create_provider(_choice(tmp_path, "remote", remote_url="http://127.0.0.1:8081/"))
    assert isinstance(remote, RemoteProvider) and remote.default_namespace == "team-x"
    assert type(create_provider(_choice(tmp_path, "kubernetes"))).__name__ == "KubernetesProvider"


def test_an_unknown_provider_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        create_provider(_choice(tmp_path, "mainframe"))
    assert raised.value.field == "provider"
    with pytest.raises(ConfigError) as setting:
        GatewaySettings.from_env({"provider": "mainframe"})
    assert setting.value.field == "provider"
