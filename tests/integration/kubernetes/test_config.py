"""Provider settings without an API server: faas-netes's names, and no configuration at all.

Reaching a real API server (in-cluster service account, kubeconfig contexts) is tested in
``test_config_live.py``."""

from __future__ import annotations

import asyncio

import pytest

from pyfaas.core.errors import ConfigError
from pyfaas.provider.kubernetes import (
    KubernetesProvider,
    KubernetesProviderSettings,
)

pytestmark = pytest.mark.timeout(60)


async def test_no_configuration_is_a_config_error() -> None:
    provider = KubernetesProvider(KubernetesProviderSettings.from_env({}).config())
    with pytest.raises(ConfigError) as raised:
        await provider.start()
    assert raised.value.field == "KUBECONFIG"
    await asyncio.sleep(0)


def test_settings_map_faas_netes_names_to_workload_options() -> None:
    settings = KubernetesProviderSettings.from_env(
        {
            "function_namespace": "fns",
            "http_probe": "false",
            "set_nonroot_user": "true",
            "image_pull_policy": "IfNotPresent",
            "function_secrets_mount_path": "/var/secrets",
            "secret_mount_path": "/var/gateway-auth",  # the gateway's basic-auth folder: not the provider's
            "readiness_probe_initial_delay_seconds": "5",
            "default_function_memory_limit": "256Mi",
            "kube_api_server": "http://127.0.0.1:1",
        }
    )
    config = settings.config()
    assert config.default_namespace == "fns" and config.api_server == "http://127.0.0.1:1"
    workload = config.workload
    assert (workload.http_probe, workload.set_nonroot_user, workload.image_pull_policy) == (
        False,
        True,
        "IfNotPresent",
    )
    assert workload.secrets_mount_path == "/var/secrets" and workload.probe_initial_delay_seconds == 5
    assert workload.default_limits is not None and workload.default_limits.memory == "256Mi"
    assert workload.default_requests is None
    with pytest.raises(ConfigError) as raised:
        KubernetesProviderSettings.from_env({"http_probe": "maybe"})
    assert raised.value.field == "http_probe"
