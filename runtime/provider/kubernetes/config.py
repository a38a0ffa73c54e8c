"""Configuration of the Kubernetes provider, and how it reaches the API server.

:class:`KubernetesProviderSettings` reads faas-netes's environment names (``function_namespace``,
``http_probe``, ``set_nonroot_user``, ``image_pull_policy``, the ``readiness_probe_*`` timings) plus
``function_secrets_mount_path``, ``gateway_namespace`` (where the gateway replicas share private functions'
keys, ``platform_secret``) and ``KUBECONFIG`` / ``kube_context`` / ``kube_api_server``; a service's
``__main__`` builds it from ``os.environ`` and calls :meth:`~KubernetesProviderSettings.config`.

``function_secrets_mount_path`` (default ``/var/openfaas/secrets``) is where function pods see their secrets.
It is deliberately not ``secret_mount_path``: in the same environment the gateway reads that one as the
folder of its own basic-auth files (OpenFaaS's meaning), and one name for both forced the two together.

Where the API is (first match wins): ``api_server`` (a plain URL without credentials: tests and
``kubectl proxy``), ``kubeconfig`` (a kubeconfig file and optional context), else the in-cluster service
account (token and CA under ``/var/run/secrets/kubernetes.io/serviceaccount``, re-read when rotated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lightkube import KubeConfig
from lightkube.config.kubeconfig import SingleConfig
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from pydantic import AliasChoices, Field

from pyfaas.core.errors import ConfigError
from pyfaas.core.k8s import FIELD_MANAGER, FunctionWorkloadOptions
from pyfaas.core.models import FunctionResources
from pyfaas.core.settings import Duration, EnvBool, EnvSettings

__all__ = ["SERVICE_ACCOUNT_DIR", "KubernetesProviderConfig", "KubernetesProviderSettings", "kube_config"]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class KubernetesProviderConfig:
    default_namespace: str = "openfaas-fn"
    """Namespace used when a request names none; always a function namespace, labelled or not."""
    workload: FunctionWorkloadOptions = field(default_factory=FunctionWorkloadOptions)
    """Shape of function Deployments (shared with the Pulumi ``Function`` component)."""
    api_server: str | None = None
    """Plain base URL of the API (no credentials, no TLS): tests and ``kubectl proxy``."""
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster_host: str | None = None
    """``KUBERNETES_SERVICE_HOST`` (set in every pod): with the service account, in-cluster."""
    in_cluster_port: int = 443
    service_account_dir: Path = SERVICE_ACCOUNT_DIR
    request_timeout: float = 10.0
    watch_server_timeout: int = 290
    """Seconds the API server keeps one watch request open; it is then resumed from its last version."""
    watch_retry_max: float = 5.0
    """Ceiling of the delay between attempts to re-establish a broken watch (doubles from 0.1 s)."""
    terminating_wait: float = 30.0
    """Seconds a deploy waits for a same-named function that is still being deleted (foreground) to go."""
    conflict_retry_for: float = 30.0
    """Seconds an update keeps re-reading and re-applying while concurrent writers win the race (409)."""
    gateway_namespace: str | None = None
    """The gateway's own (control) namespace: where the gateway replicas share private functions' keys (a
    Secret, ``pyfaas.provider.kubernetes.platform_secret``). None: each gateway keeps them in its state."""
    field_manager: str = FIELD_MANAGER
    """Server-side apply field manager; the Pulumi program applies function objects as the same one."""


def _selected(loaded: KubeConfig, context: str | None) -> SingleConfig:
    selected = loaded.get(context)
    if selected is None:  # lightkube raises for an unknown context; None only without any context
        raise ConfigError(f"kubeconfig has no context {context!r}", field="kube_context")
    return selected


def kube_config(config: KubernetesProviderConfig) -> SingleConfig:
    """The lightkube configuration for ``config`` (see the module docstring for the order)."""
    try:
        if config.api_server:
            plain = KubeConfig.from_one(cluster=Cluster(server=config.api_server.rstrip("/")), user=User())
            return _selected(plain, None)
        if config.kubeconfig is not None:
            return _selected(KubeConfig.from_file(config.kubeconfig), config.context)
        if not config.in_cluster_host:
            raise ConfigError(
                "no Kubernetes API configured: set kube_api_server or KUBECONFIG, or run in a cluster",
                field="KUBECONFIG",
            )
        account = config.service_account_dir
        host = config.in_cluster_host
        host = f"[{host}]" if ":" in host else host
        namespace = account / "namespace"
        in_cluster = KubeConfig.from_one(
            cluster=Cluster(
                server=f"https://{host}:{config.in_cluster_port}", certificate_auth=str(account / "ca.crt")
            ),
            user=User(token_file=str(account / "token")),
            namespace=namespace.read_text().strip() if namespace.is_file() else None,
        )
        return _selected(in_cluster, None)
    except LightkubeConfigError as exc:
        raise ConfigError(f"no usable Kubernetes configuration: {exc}", field="KUBECONFIG") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read Kubernetes configuration: {exc}", field="KUBECONFIG") from exc


class KubernetesProviderSettings(EnvSettings):
    """faas-netes's environment names (the ones CE ignores are honoured here)."""

    function_namespace: str = "openfaas-fn"
    kubeconfig: str = Field("", validation_alias=AliasChoices("KUBECONFIG", "kubeconfig"))
    kube_context: str = ""
    kube_api_server: str = ""
    KUBERNETES_SERVICE_HOST: str = ""
    KUBERNETES_SERVICE_PORT: int = 443
    http_probe: EnvBool = True
    set_nonroot_user: EnvBool = False
    image_pull_policy: str = "Always"
    function_secrets_mount_path: str = "/var/openfaas/secrets"
    """Where function pods mount their secrets (not ``secret_mount_path``: see the module docstring)."""
    readiness_probe_initial_delay_seconds: int = Field(2, ge=0)
    readiness_probe_timeout_seconds: int = Field(1, ge=1)
    readiness_probe_period_seconds: int = Field(2, ge=1)
    default_function_memory_limit: str = ""
    default_function_memory_request: str = ""
    default_function_cpu_request: str = ""
    kube_request_timeout: Duration = Field(10.0, gt=0)
    gateway_namespace: str = ""
    """The gateway's own namespace (the Pulumi program sets it): private functions' keys are shared there."""

    def config(self) -> KubernetesProviderConfig:
        limits = FunctionResources(memory=self.default_function_memory_limit or None)
        requests = FunctionResources(
            memory=self.default_function_memory_request or None, cpu=self.default_function_cpu_request or None
        )
        workload = FunctionWorkloadOptions(
            http_probe=self.http_probe,
            set_nonroot_user=self.set_nonroot_user,
            image_pull_policy=self.image_pull_policy,
            secrets_mount_path=self.function_secrets_mount_path,
            probe_initial_delay_seconds=self.readiness_probe_initial_delay_seconds,
            probe_timeout_seconds=self.readiness_probe_timeout_seconds,
            probe_period_seconds=self.readiness_probe_period_seconds,
            default_limits=None if limits.is_empty() else limits,
            default_requests=None if requests.is_empty() else requests,
        )
        # KUBECONFIG may list several files (path-separated); lightkube reads one, so take the first.
        first_kubeconfig = self.kubeconfig.split(":")[0] if self.kubeconfig else ""
        return KubernetesProviderConfig(
            default_namespace=self.function_namespace,
            workload=workload,
            api_server=self.kube_api_server or None,
            kubeconfig=Path(first_kubeconfig) if first_kubeconfig else None,
            context=self.kube_context or None,
            in_cluster_host=self.KUBERNETES_SERVICE_HOST or None,
            in_cluster_port=self.KUBERNETES_SERVICE_PORT,
            request_timeout=self.kube_request_timeout,
            gateway_namespace=self.gateway_namespace or None,
        )
