"""``Platform``: namespaces, gateway, NATS, Prometheus, AlertManager, queue-worker, idler and the functions.

The one component a program needs. Its outputs: ``gateway_url`` (in-cluster), ``admin_user``,
``admin_password`` (a secret output) and ``function_names``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from pyfaas.core.k8s import FunctionWorkloadOptions
from pyfaas.core.models import FunctionDeployment, FunctionResources
from pyfaas.infra.alertmanager import SECRETS_PATH as ALERTMANAGER_SECRETS
from pyfaas.infra.alertmanager import AlertManager, AlertManagerArgs
from pyfaas.infra.alerts import AlertSources, alertmanager_files, prometheus_files
from pyfaas.infra.config import PlatformConfig
from pyfaas.infra.function import Function, FunctionArgs, FunctionSecrets, FunctionSecretsArgs
from pyfaas.infra.gateway import Gateway, GatewayArgs
from pyfaas.infra.namespaces import Namespaces, NamespacesArgs
from pyfaas.infra.nats_jetstream import Nats, NatsArgs
from pyfaas.infra.network_policy import function_network_policy
from pyfaas.infra.prometheus import PORT as PROMETHEUS_PORT
from pyfaas.infra.prometheus import Prometheus, PrometheusArgs
from pyfaas.infra.services import Idler, IdlerArgs, QueueWorker, QueueWorkerArgs

__all__ = ["Platform", "PlatformArgs", "workload_options"]


@dataclass(frozen=True)
class PlatformArgs:
    config: PlatformConfig
    alerts: AlertSources
    functions: list[FunctionDeployment] = field(default_factory=list)
    admin_password: pulumi.Input[str] | None = None
    """A configured password (secret); None generates one."""


def workload_options(config: PlatformConfig) -> FunctionWorkloadOptions:
    """The function pod shape; the gateway's provider gets the same values (``provider_environment``)."""
    defaults = config.function_defaults
    return FunctionWorkloadOptions(
        http_probe=defaults.http_probe,
        set_nonroot_user=defaults.set_non_root_user,
        image_pull_policy=defaults.image_pull_policy,
        default_limits=FunctionResources(memory=defaults.memory_limit),
        default_requests=FunctionResources(memory=defaults.memory_request, cpu=defaults.cpu_request),
    )


class Platform(pulumi.ComponentResource):
    gateway_url: pulumi.Output[str]
    admin_user: str
    admin_password: pulumi.Output[str]
    function_names: list[str]

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:Platform", name, None, opts)
        config = args.config
        ns = config.control_namespace
        child = pulumi.ResourceOptions(parent=self)
        namespaces = Namespaces(
            f"{name}-namespaces",
            NamespacesArgs(control=ns, functions=config.function_namespaces, create=config.create_namespaces),
            opts=child,
        )
        # Everything else waits for the namespaces: Pulumi's dependsOn, passed on by each component.
        placed = pulumi.ResourceOptions(parent=self, depends_on=namespaces.ready)
        nats = Nats(f"{name}-nats", NatsArgs(config=config.nats, namespace=ns), opts=placed)
        prometheus = None
        if config.prometheus.enabled:
            prometheus = Prometheus(
                f"{name}-prometheus",
                PrometheusArgs(
                    config=config.prometheus, namespace=ns, files=prometheus_files(args.alerts, namespace=ns)
                ),
                opts=placed,
            )
        gateway = Gateway(
            f"{name}-gateway",
            GatewayArgs(
                config=config,
                nats_url=nats.url,
                prometheus=(prometheus.host, prometheus.port) if prometheus is not None else None,
                admin_password=args.admin_password,
            ),
            opts=placed,
        )
        gateway_url = gateway.internal_url
        for fn_ns in config.function_namespaces:
            function_network_policy(
                f"{name}-netpol-{fn_ns}", namespace=fn_ns, control_namespace=ns, opts=placed
            )
        after_gateway = pulumi.ResourceOptions(parent=self, depends_on=[*namespaces.ready, gateway])
        if config.alertmanager.enabled:
            AlertManager(
                f"{name}-alertmanager",
                AlertManagerArgs(
                    config=config.alertmanager,
                    namespace=ns,
                    files=alertmanager_files(
                        args.alerts,
                        gateway_url=gateway_url,
                        user=config.admin_user if config.gateway.basic_auth else None,
                        password_file=f"{ALERTMANAGER_SECRETS}/basic-auth-password"
                        if config.gateway.basic_auth
                        else None,
                    ),
                    credentials_secret=gateway.credentials_secret,
                ),
                opts=after_gateway,
            )
        if config.queue_worker.enabled:
            QueueWorker(
                f"{name}-queue-worker",
                QueueWorkerArgs(
                    config=config.queue_worker,
                    image=config.image,
                    image_pull_policy=config.image_pull_policy,
                    namespace=ns,
                    nats_url=nats.url,
                    gateway_url=gateway_url,
                ),
                opts=placed,
            )
        if config.idler.enabled:
            Idler(
                f"{name}-idler",
                IdlerArgs(
                    config=config.idler,
                    image=config.image,
                    image_pull_policy=config.image_pull_policy,
                    namespace=ns,
                    gateway_url=gateway_url,
                    prometheus_host=prometheus.host if prometheus is not None else "",
                    prometheus_port=prometheus.port if prometheus is not None else PROMETHEUS_PORT,
                    function_namespace=config.function_namespace,
                    credentials_secret=gateway.credentials_secret,
                ),
                opts=after_gateway,
            )
        for secret_namespace, values in config.secrets_by_namespace().items():
            FunctionSecrets(
                f"{name}-secrets-{secret_namespace}",
                FunctionSecretsArgs(namespace=secret_namespace, values=values),
                opts=placed,
            )
        options = workload_options(config)
        self.function_names = []
        for spec in args.functions:
            target = spec.namespace or config.function_namespace
            Function(
                f"{name}-fn-{target}-{spec.service}",
                FunctionArgs(spec=spec, namespace=config.function_namespace, options=options),
                opts=placed,
            )
            self.function_names.append(f"{spec.service}.{target}")
        self.gateway_url = gateway.url
        self.admin_user = gateway.admin_user
        self.admin_password = gateway.admin_password
        self.register_outputs(
            {
                "gatewayUrl": self.gateway_url,
                "adminUser": self.admin_user,
                "adminPassword": self.admin_password,
                "functions": self.function_names,
            }
        )
