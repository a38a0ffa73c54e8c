"""Gateway configuration, read once in ``__main__`` from the environment with OpenFaaS's names.

OpenFaaS variables: ``port`` (8080), ``metrics_port`` (8082), ``read_timeout``, ``write_timeout``,
``upstream_timeout`` (60s each), ``basic_auth`` (false), ``secret_mount_path`` (``/run/secrets/``),
``scale_from_zero`` (**true** in pyfaas; OpenFaaS's binary defaults to false, its chart and faasd set true),
``function_namespace`` (``openfaas-fn``), ``functions_provider_url`` (unset: the provider runs in-process),
``faas_prometheus_host`` / ``faas_prometheus_port`` (unset / 9090: ``invocationCount`` comes from the
gateway's own counters unless a Prometheus host is named).

pyfaas additions: ``provider`` (``local`` | ``remote`` | ``kubernetes``; ``remote`` whenever
``functions_provider_url`` is set), ``state_dir`` (``.pyfaas``, local provider), ``scale_from_zero_timeout``
(30s: a call to a function at zero replicas gets 503 + ``Retry-After`` after this long), ``max_body_bytes``
(request body limit, 413 above it; 0 = unlimited), ``bind_address`` (``0.0.0.0``), ``read_header_timeout``
(10s: a connection whose request head is not complete this long after its first byte is closed — slowloris).

Async call ledger (``runtime/gateway/async_calls/call_ledger.py``): ``async_replay_ttl`` (5m: how long the
final answer of an async call's ``/function`` request is kept for the worker's repeated delivery; 0 disables
the ledger; keep it above the worker's ``ack_wait``), ``async_replay_max_bytes`` (64 MiB, all kept answers,
oldest evicted), ``async_replay_max_body`` (256 KiB; larger answers are not kept),
``async_replay_issued_ttl`` (1h: how long an id issued at ``/async-function`` stays eligible, i.e. the longest
queue wait covered) and ``async_replay_max_calls`` (100,000 issued ids remembered).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pyfaas.core.settings import Duration, EnvBool, EnvSettings

__all__ = ["GatewaySettings", "ProviderKind"]

ProviderKind = Literal["local", "remote", "kubernetes"]


class GatewaySettings(EnvSettings):
    """Frozen gateway settings; build with ``GatewaySettings.from_env(os.environ)``."""

    port: int = Field(8080, ge=0, le=65535)
    metrics_port: int = Field(8082, ge=0, le=65535)
    bind_address: str = "0.0.0.0"
    read_timeout: Duration = Field(60.0, gt=0)
    read_header_timeout: Duration = Field(10.0, gt=0)
    write_timeout: Duration = Field(60.0, gt=0)
    upstream_timeout: Duration = Field(60.0, gt=0)
    basic_auth: EnvBool = False
    secret_mount_path: str = "/run/secrets/"
    scale_from_zero: EnvBool = True
    scale_from_zero_timeout: Duration = Field(30.0, gt=0)
    function_namespace: str = "openfaas-fn"
    functions_provider_url: str = ""
    faas_prometheus_host: str = ""
    faas_prometheus_port: int = Field(9090, ge=1, le=65535)
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=0)
    provider: ProviderKind = "local"
    state_dir: str = ".pyfaas"
    async_replay_ttl: Duration = Field(300.0, ge=0)
    async_replay_max_bytes: int = Field(64 * 1024 * 1024, ge=0)
    async_replay_max_body: int = Field(256 * 1024, ge=0)
    async_replay_issued_ttl: Duration = Field(3600.0, gt=0)
    async_replay_max_calls: int = Field(100_000, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _remote_when_url_given(cls, data: object) -> object:
        # OpenFaaS users configure a provider only through functions_provider_url; honour that alone.
        if isinstance(data, dict) and data.get("functions_provider_url") and "provider" not in data:
            return {**data, "provider": "remote"}
        return data

    @model_validator(mode="after")
    def _remote_needs_url(self) -> GatewaySettings:
        if self.provider == "remote" and not self.functions_provider_url:
            raise ValueError("provider=remote needs functions_provider_url")
        return self

    @property
    def prometheus_url(self) -> str | None:
        """Base URL of Prometheus' HTTP API, or None when invocation counts come from own counters."""
        if not self.faas_prometheus_host:
            return None
        return f"http://{self.faas_prometheus_host}:{self.faas_prometheus_port}"
