"""Scaling-controller configuration, read once in ``__main__`` with faas-idler's environment names.

faas-idler's variables: ``gateway_url``, ``prometheus_host`` (empty: no Prometheus, read the gateway's
metrics instead), ``prometheus_port`` (9090), ``inactivity_duration`` (default idle time before scale to zero;
15m as OpenFaaS Pro), ``reconcile_interval``, ``secret_mount_path`` (``basic-auth-user`` and
``basic-auth-password``), ``write_debug``; faas-idler's ``-dry-run`` flag is also ``dry_run``.

pyfaas additions: ``reconcile_interval`` defaults to 1s, not 30s, because the same loop does target
tracking; ``gateway_metrics_url`` (default: the gateway's host, port 8082, ``/metrics``);
``function_namespace``; ``rate_window`` (window of every rate and in-flight average); ``scale_down_window``
(stabilisation: replicas only fall to the highest recommendation of this window); ``target_tracking``
(off: scale to zero only); ``default_scale_type`` / ``default_scale_target`` (target tracking for functions
without ``com.openfaas.scale.type``: the fallback when no Prometheus/AlertManager scales them);
``metrics_port`` (8083; 0 = ephemeral, -1 = off) and ``bind_address``; ``request_timeout``.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator

from pyfaas.core.settings import Duration, EnvBool, EnvSettings

__all__ = ["DEFAULT_METRICS_PORT", "IdlerSettings"]

DEFAULT_METRICS_PORT = 8083
_GATEWAY_METRICS_PORT = 8082


class IdlerSettings(EnvSettings):
    """Frozen settings of ``pyfaas-idler``; build with ``IdlerSettings.from_env(os.environ)``."""

    gateway_url: str = "http://127.0.0.1:8080/"
    gateway_metrics_url: str = ""
    prometheus_host: str = ""
    prometheus_port: int = Field(9090, ge=1, le=65535)
    inactivity_duration: Duration = Field(15 * 60.0, gt=0)
    reconcile_interval: Duration = Field(1.0, gt=0)
    secret_mount_path: str = "/var/secrets/"
    write_debug: EnvBool = False
    dry_run: EnvBool = False
    function_namespace: str = "openfaas-fn"
    rate_window: Duration = Field(5.0, gt=0)
    scale_down_window: Duration = Field(30.0, ge=0)
    target_tracking: EnvBool = True
    default_scale_type: Literal["", "rps", "capacity"] = ""
    default_scale_target: float | None = Field(None, gt=0)
    metrics_port: int = Field(DEFAULT_METRICS_PORT, ge=-1, le=65535)
    bind_address: str = "0.0.0.0"
    request_timeout: Duration = Field(5.0, gt=0)
    log_level: str = Field("INFO", validation_alias=AliasChoices("log_level", "LOG_LEVEL"))

    @field_validator("gateway_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL such as http://gateway:8080/, got {value!r}")
        return value

    @field_validator("default_scale_target", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def gateway_base(self) -> str:
        return self.gateway_url.rstrip("/")

    @property
    def metrics_url(self) -> str:
        """The gateway's Prometheus endpoint (used when no Prometheus is configured)."""
        if self.gateway_metrics_url:
            return self.gateway_metrics_url
        parts = urlsplit(self.gateway_url)
        return f"{parts.scheme}://{parts.hostname}:{_GATEWAY_METRICS_PORT}/metrics"

    @property
    def prometheus_url(self) -> str | None:
        if not self.prometheus_host:
            return None
        if self.prometheus_host.startswith(("http://", "https://")):
            return self.prometheus_host.rstrip("/")
        return f"http://{self.prometheus_host}:{self.prometheus_port}"
