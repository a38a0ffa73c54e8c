"""How the provider reaches the API: in-cluster service account (TLS + rotating token file) and kubeconfig."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
import yaml

from pyfaas.core.errors import ConfigError
from pyfaas.provider.kubernetes import (
    KubernetesProvider,
    KubernetesProviderConfig,
    KubernetesProviderSettings,
)
from tests.support.kube_api import kube_api_server

pytestmark = pytest.mark.timeout(60)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA (what the service account's ca.crt would hold)."""
    cert, key = directory / "ca.crt", directory / "tls.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
async def test_in_cluster_service_account_over_tls(tmp_path: Path) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    cert, key = self_signed(account)
    (account / "token").write_text("token-one\n")
    (account / "namespace").write_text("openfaas")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    async with kube_api_server(tmp_path / "api", run_pods=False, ssl_context=context) as server:
        port = server.url.rsplit(":", 1)[1]
        settings = KubernetesProviderSettings.from_env(
            {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
        )
        config = settings.config()
        config = KubernetesProviderConfig(
            in_cluster_host=config.in_cluster_host,
            in_cluster_port=config.in_cluster_port,
            service_account_dir=account,
        )
        provider = KubernetesProvider(config)
        await provider.start()
        try:
            await provider.health()
            assert server.authorizations[-1] == "Bearer token-one"
            assert provider.client.config.cluster.server == f"https://127.0.0.1:{port}"
        finally:
            await provider.close()


async def test_kubeconfig_with_context_and_token(tmp_path: Path) -> None:
    async with kube_api_server(tmp_path / "api", run_pods=False) as server:
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "other",
            "clusters": [
                {"name": "test", "cluster": {"server": server.url}},
                {"name": "elsewhere", "cluster": {"server": "http://127.0.0.1:9"}},
            ],
            "users": [{"name": "dev", "user": {"token": "kubeconfig-token"}}],
            "contexts": [
                {"name": "pyfaas", "context": {"cluster": "test", "user": "dev", "namespace": "openfaas-fn"}},
                {"name": "other", "context": {"cluster": "elsewhere", "user": "dev"}},
            ],
        }
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))
        settings = KubernetesProviderSettings.from_env(
            {"KUBECONFIG": f"{path}:/nonexistent", "kube_context": "pyfaas"}
        )
        provider = KubernetesProvider(settings.config())
        await provider.start()
        try:
            assert await provider.list_namespaces() == ["openfaas-fn"]
            assert set(server.authorizations) == {"Bearer kubeconfig-token"}
        finally:
            await provider.close()


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
