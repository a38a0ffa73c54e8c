"""Settings of ``pyfaas-operator``, from the environment.

Function workloads take the Kubernetes provider's settings (faas-netes's names: ``http_probe``,
``image_pull_policy``, ``set_nonroot_user``, the probe timings, default limits; and
``function_secrets_mount_path``), so the gateway's provider and the operator build identical objects. The
operator adds where to look, leader election and retry timing.
"""

from __future__ import annotations

import os
import socket

from pydantic import Field

from pyfaas.core.settings import Duration, EnvBool
from pyfaas.operator.leader import LeaseSettings
from pyfaas.provider.kubernetes.config import KubernetesProviderSettings

__all__ = ["OperatorSettings"]


class OperatorSettings(KubernetesProviderSettings):
    operator_namespaces: str = ""
    """Comma-separated namespaces to reconcile; empty: every namespace (cluster-wide)."""
    leader_election: EnvBool = True
    lease_name: str = "pyfaas-operator"
    lease_namespace: str = ""
    """Where the Lease lives; empty: ``POD_NAMESPACE``, else ``function_namespace``."""
    POD_NAMESPACE: str = ""
    POD_NAME: str = ""
    """This replica's identity in the Lease (the pod name); empty: hostname and process id."""
    lease_duration: Duration = Field(15.0, gt=0)
    renew_deadline: Duration = Field(10.0, gt=0)
    retry_period: Duration = Field(2.0, gt=0)
    retry_initial: Duration = Field(1.0, gt=0)
    """First delay before retrying a Function that cannot be reconciled yet (a secret is missing)."""
    retry_max: Duration = Field(30.0, gt=0)
    """Ceiling of that delay, which doubles per attempt."""
    operator_health_port: int = Field(0, ge=0, le=65535)
    """Serve kopf's liveness probe on ``/healthz`` at this port (0: off)."""

    def namespaces(self) -> list[str]:
        return [n.strip() for n in self.operator_namespaces.split(",") if n.strip()]

    def lease(self) -> LeaseSettings:
        identity = self.POD_NAME or f"{socket.gethostname()}-{os.getpid()}"
        return LeaseSettings(
            namespace=self.lease_namespace or self.POD_NAMESPACE or self.function_namespace,
            name=self.lease_name,
            identity=identity,
            lease_duration=self.lease_duration,
            renew_deadline=min(self.renew_deadline, self.lease_duration),
            retry_period=self.retry_period,
        )
