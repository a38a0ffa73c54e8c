"""``AlertManager``: routes the scaling alerts to the gateway's ``/system/alert`` (contract §7).

The ConfigMap ``alertmanager-config`` carries ``alertmanager.yml`` rendered from ``alerts/``. The webhook
authenticates with the gateway's basic-auth Secret, mounted at ``/var/secrets`` (the config names
``password_file: /var/secrets/basic-auth-password``, as OpenFaaS's chart does).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from pyfaas.infra import kube
from pyfaas.infra.config import AlertManagerConfig
from pyfaas.infra.workload import monitoring_workload, register_workload

__all__ = ["SECRETS_PATH", "AlertManager", "AlertManagerArgs"]

PORT = 9093
RUN_AS = 65534
CONFIG_DIR = "/etc/alertmanager"
SECRETS_PATH = "/var/secrets"


@dataclass(frozen=True)
class AlertManagerArgs:
    config: AlertManagerConfig
    namespace: str
    files: dict[str, str]
    """File name → content; must contain ``alertmanager.yml``."""
    credentials_secret: str


class AlertManager(pulumi.ComponentResource):
    url: str

    def __init__(self, name: str, args: AlertManagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:AlertManager", name, None, opts)
        if "alertmanager.yml" not in args.files:
            raise ValueError("AlertManager needs an alertmanager.yml in its files")
        config, ns = args.config, args.namespace
        container = kube.container(
            "alertmanager",
            config.image,
            args=[
                f"--config.file={CONFIG_DIR}/alertmanager.yml",
                "--storage.path=/alertmanager",
                "--cluster.listen-address=",
            ],
            resources=config.resources,
            ports={"web": PORT},
            readiness=kube.http_probe("/-/ready", "web", period=5),
            liveness=kube.http_probe("/-/healthy", "web", initial=5, period=15, failures=4),
            run_as_user=RUN_AS,
            mounts=[
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "auth", "mountPath": SECRETS_PATH, "readOnly": True},
                {"name": "data", "mountPath": "/alertmanager"},
            ],
        )
        pod = kube.pod_spec(
            [container],
            volumes=[
                {"name": "config", "configMap": {"name": "alertmanager-config"}},
                {"name": "auth", "secret": {"secretName": args.credentials_secret}},
                {"name": "data", "emptyDir": {"sizeLimit": "256Mi"}},
            ],
            fs_group=RUN_AS,
        )
        workload = monitoring_workload("alertmanager", ns, pod, args.files, PORT)
        register_workload(self, name, workload, opts)
        self.url = f"http://alertmanager.{ns}.svc:{PORT}"
        self.register_outputs({"url": self.url})
