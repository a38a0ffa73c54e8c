"""``Prometheus``: scrapes the platform's pods, evaluates the rules from ``alerts/``, notifies AlertManager.

The ConfigMap ``prometheus-config`` carries ``prometheus.yml`` and the rule files rendered from ``alerts/``
(see :mod:`pyfaas.infra.alerts`). Pod discovery needs read access to pods in the control namespace (where the
gateway, queue-worker and idler run): one Role + RoleBinding, nothing cluster-wide.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from pyfaas.core.alerting import CLUSTER_TIMINGS, prom_duration
from pyfaas.infra import kube
from pyfaas.infra.config import PrometheusConfig
from pyfaas.infra.workload import children, monitoring_workload, register_workload

__all__ = ["DISCOVERY_RULES", "Prometheus", "PrometheusArgs"]

PORT = 9090
RUN_AS = 65534  # "nobody", as the upstream image runs
CONFIG_DIR = "/etc/prometheus"

DISCOVERY_RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]


@dataclass(frozen=True)
class PrometheusArgs:
    config: PrometheusConfig
    namespace: str
    files: dict[str, str]
    """File name → content for the ConfigMap; must contain ``prometheus.yml``."""


class Prometheus(pulumi.ComponentResource):
    host: str
    """In-cluster host name of its Service, for the gateway's and the idler's settings."""
    port: int
    url: str

    def __init__(self, name: str, args: PrometheusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:Prometheus", name, None, opts)
        if "prometheus.yml" not in args.files:
            raise ValueError("Prometheus needs a prometheus.yml in its files")
        config, ns = args.config, args.namespace
        app_labels = kube.labels("prometheus", "monitoring")
        account = kube.resource(
            k8s.core.v1.ServiceAccount,
            f"{name}-sa",
            metadata={"name": "prometheus", "namespace": ns, "labels": app_labels},
            opts=children(self, opts),
        )
        role = kube.resource(
            k8s.rbac.v1.Role,
            f"{name}-role-{ns}",
            metadata={"name": "pyfaas-prometheus", "namespace": ns, "labels": app_labels},
            rules=DISCOVERY_RULES,
            opts=children(self, opts),
        )
        kube.resource(
            k8s.rbac.v1.RoleBinding,
            f"{name}-binding-{ns}",
            metadata={"name": "pyfaas-prometheus", "namespace": ns, "labels": app_labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pyfaas-prometheus"},
            subjects=[{"kind": "ServiceAccount", "name": "prometheus", "namespace": ns}],
            opts=children(self, opts, role, account),
        )
        container = kube.container(
            "prometheus",
            config.image,
            args=[
                f"--config.file={CONFIG_DIR}/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                f"--storage.tsdb.retention.time={config.retention}",
                f"--rules.alert.resend-delay={prom_duration(CLUSTER_TIMINGS.alert_resend_delay)}",
            ],
            resources=config.resources,
            ports={"web": PORT},
            readiness=kube.http_probe("/-/ready", "web", period=5),
            liveness=kube.http_probe("/-/healthy", "web", initial=10, period=15, failures=4),
            run_as_user=RUN_AS,
            mounts=[
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "data", "mountPath": "/prometheus"},
            ],
        )
        pod = kube.pod_spec(
            [container],
            service_account="prometheus",
            volumes=[
                {"name": "config", "configMap": {"name": "prometheus-config"}},
                {"name": "data", "emptyDir": {"sizeLimit": "2Gi"}},
            ],
            fs_group=RUN_AS,
        )
        workload = monitoring_workload("prometheus", ns, pod, args.files, PORT)
        register_workload(self, name, workload, opts, depends_on=[account])
        self.host = f"prometheus.{ns}.svc"
        self.port = PORT
        self.url = f"http://{self.host}:{PORT}"
        self.register_outputs({"url": self.url})
