"""The Kubernetes provider: functions as Deployments + Services through the Kubernetes API (lightkube).

See ``docs/kubernetes-provider.md`` and decision records 0100 (client library) and 0101 (workload shape).
"""

from pyfaas.provider.kubernetes.config import (
    KubernetesProviderConfig,
    KubernetesProviderSettings,
    kube_config,
)
from pyfaas.provider.kubernetes.provider import KubernetesProvider

__all__ = ["KubernetesProvider", "KubernetesProviderConfig", "KubernetesProviderSettings", "kube_config"]
