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
(request body limit of sync calls and the system API, 32 MiB as the watchdog's; JSON 413 above it; 0 =
unlimited; the local provider gives replicas the same limit, see ``pyfaas.core.limits``), ``bind_address``
(``0.0.0.0``), ``read_header_timeout``
(10s: a connection whose request head is not complete this long after its first byte is closed — slowloris),
``shutdown_delay`` (0s: after SIGTERM, keep serving this long with ``/healthz`` answering 503 before the
listener closes, so a load balancer — a Kubernetes Service's endpoints, updated by kube-proxy a moment after
the pod starts terminating — stops sending new connections first; the Pulumi program sets 3s).

Async call ledger (``runtime/gateway/async_calls/call_ledger.py``): ``async_replay_ttl`` (5m: how long the
final answer of an async call's ``/function`` request is kept for the worker's repeated delivery; 0 disables
the ledger; keep it above the worker's ``ack_wait``), ``async_replay_max_bytes`` (64 MiB, all kept answers,
oldest evicted), ``async_replay_max_body`` (256 KiB; larger answers are not kept),
``async_replay_issued_ttl`` (1h: how long an id issued at ``/async-function`` stays eligible, i.e. the longest
queue wait covered) and ``async_replay_max_calls`` (100,000 issued ids remembered).

Portal and stores (``docs/ui.md``): ``store_sources`` (``pyfaas``: the bundled catalog; a list of
``name=URL-or-path`` in the order the store page shows them, see :mod:`pyfaas.store.sources`),
``store_timeout`` (5s per source), ``store_cache_dir`` (``<state_dir>/store-cache``); ``ui_title``
(``pyfaas``), ``ui_logo`` (an SVG/PNG/JPEG/WebP file on the gateway's host, served as ``/ui/brand-logo``),
``ui_accent`` (``#rgb`` or ``#rrggbb``) and ``ui_links`` (``Label=https://url, ...`` in the header).
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from pyfaas.core.limits import DEFAULT_MAX_BODY_BYTES
from pyfaas.core.settings import Duration, EnvBool, EnvSettings
from pyfaas.provider.factory import PROVIDERS

__all__ = ["LOGO_TYPES", "GatewaySettings", "ProviderKind", "ui_links"]

ProviderKind = str
"""A name registered in ``pyfaas.provider.factory.PROVIDERS``."""
LOGO_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
_ACCENT = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_MAX_LOGO_BYTES = 512 * 1024


def ui_links(text: str) -> list[tuple[str, str]]:
    """``Label=URL`` pairs (comma-separated) of ``ui_links``; ValueError for a bad one."""
    links: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        label, _, url = (piece.strip() for piece in item.partition("="))
        if not label or not url:
            raise ValueError(f"{item!r}: expected Label=URL")
        if not (
            url.startswith(("https://", "http://")) or (url.startswith("/") and not url.startswith("//"))
        ):
            raise ValueError(f"{url!r}: a link must be an http(s) URL or a path on this gateway")
        links.append((label, url))
    return links


class GatewaySettings(EnvSettings):
    """Frozen gateway settings; build with ``GatewaySettings.from_env(os.environ)``."""

    port: int = Field(8080, ge=0, le=65535)
    metrics_port: int = Field(8082, ge=0, le=65535)
    bind_address: str = "0.0.0.0"
    read_timeout: Duration = Field(60.0, gt=0)
    read_header_timeout: Duration = Field(10.0, gt=0)
    write_timeout: Duration = Field(60.0, gt=0)
    shutdown_delay: Duration = Field(0.0, ge=0)
    upstream_timeout: Duration = Field(60.0, gt=0)
    basic_auth: EnvBool = False
    secret_mount_path: str = "/run/secrets/"
    scale_from_zero: EnvBool = True
    scale_from_zero_timeout: Duration = Field(30.0, gt=0)
    function_namespace: str = "openfaas-fn"
    functions_provider_url: str = ""
    faas_prometheus_host: str = ""
    faas_prometheus_port: int = Field(9090, ge=1, le=65535)
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=0)
    provider: ProviderKind = "local"
    state_dir: str = ".pyfaas"
    async_replay_ttl: Duration = Field(300.0, ge=0)
    async_replay_max_bytes: int = Field(64 * 1024 * 1024, ge=0)
    async_replay_max_body: int = Field(256 * 1024, ge=0)
    async_replay_issued_ttl: Duration = Field(3600.0, gt=0)
    async_replay_max_calls: int = Field(100_000, ge=0)
    store_sources: str = "pyfaas"
    store_timeout: Duration = Field(5.0, gt=0)
    store_cache_dir: str = ""
    ui_title: str = Field("pyfaas", min_length=1, max_length=60)
    ui_logo: str = ""
    ui_accent: str = ""
    ui_links: str = ""

    @field_validator("store_sources")
    @classmethod
    def _sources_parse(cls, value: str) -> str:
        from pyfaas.core.errors import PyfaasError
        from pyfaas.store.sources import parse_sources

        try:
            parse_sources(value)
        except PyfaasError as exc:
            raise ValueError(exc.message) from exc
        return value

    @field_validator("ui_accent")
    @classmethod
    def _accent_is_a_colour(cls, value: str) -> str:
        if value and not _ACCENT.match(value):
            raise ValueError("expected a colour as #rgb or #rrggbb")
        return value

    @field_validator("ui_links")
    @classmethod
    def _links_parse(cls, value: str) -> str:
        ui_links(value)
        return value

    @field_validator("ui_logo")
    @classmethod
    def _logo_is_an_image_file(cls, value: str) -> str:
        if not value:
            return value
        path = Path(value)
        if path.suffix.lower() not in LOGO_TYPES:
            raise ValueError(f"the logo must be one of {', '.join(sorted(LOGO_TYPES))}")
        if not path.is_file():
            raise ValueError(f"no file {value}")
        if path.stat().st_size > _MAX_LOGO_BYTES:
            raise ValueError(f"the logo is over {_MAX_LOGO_BYTES // 1024} KiB")
        return value

    @field_validator("provider")
    @classmethod
    def _registered_provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"Input should be one of {', '.join(repr(name) for name in PROVIDERS)}")
        return value

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
