"""Watchdog configuration, read once from the environment with OpenFaaS's names.

of-watchdog / classic-watchdog variables (OpenFaaS defaults unless noted):

``fprocess`` / ``function_process`` (the latter wins), ``mode`` (``streaming``), ``upstream_url`` /
``http_upstream_url`` (the latter wins), ``port`` (8080), ``read_timeout`` (30s), ``write_timeout`` (30s),
``exec_timeout`` (30s; 0 disables), ``healthcheck_interval`` (= ``write_timeout``), ``max_inflight`` (0 =
unlimited), ``content_type``, ``static_path`` (``/home/app/public``), ``suppress_lock``, ``prefix_logs``
(true), ``log_buffer_size`` (65536), ``ready_path``, ``buffer_http`` / ``http_buffer_req_body``, and the
classic ones ``cgi_headers`` (true), ``combine_output`` (true), ``marshal_request`` (false), ``write_debug``
(false); ``log_callid`` (http mode access log). ``HOSTNAME`` becomes python3-http's ``context.hostname``.

pyfaas extensions:

``mode=python``
    import ``handler`` once and call it in-process (no second process, no extra HTTP hop).
``mode=fork``
    the classic watchdog (one process per request, CGI environment, 500/408 on failure).
``port=0``
    bind an ephemeral port.
``bind_address``
    address to listen on (default ``0.0.0.0``; local replicas use ``127.0.0.1``).
``port_file=/path``
    once listening, write the bound port number to this file atomically (tmp file + rename), before the
    watchdog reports healthy.
``lock_path``
    this instance's lock file (default ``$TMPDIR/.lock``, i.e. ``/tmp/.lock``).
``metrics_port``
    Prometheus listener (default 8081; ``0`` = none). Metrics are always served at ``/_/metrics`` too.
``handler``
    python mode: directory containing ``handler.py`` (default ``./function``).
``handler_style``
    python mode: ``auto`` (from the signature), ``http`` (``handle(event, context)``) or ``classic``
    (``handle(req)``).
``max_body_bytes``
    request body limit, default 10 MiB; larger bodies get 413.
``python_workers``
    python mode: size of the thread pool that runs sync handlers (default 16; threads start on demand).
``python_inline``
    python mode: ``never`` (default) or ``auto``: a sync handler that proves CPU-trivial (2,000 calls in a
    row ≤ 0.5 ms) is then called on the event loop; one call over 2 ms sends it back to the pool.
``secret_mount_path``
    passed through to the function's environment untouched (functions read secrets from there).

Log line format: see ``runtime.watchdog.logs``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import AliasChoices, Field, field_validator

from runtime.core.errors import ConfigError
from runtime.core.settings import Duration, EnvBool, EnvSettings

__all__ = ["Mode", "WatchdogSettings", "lock_file_for"]

Mode = Literal["streaming", "serializing", "fork", "http", "static", "python"]
FORKING_MODES: frozenset[str] = frozenset({"streaming", "serializing", "fork"})


class WatchdogSettings(EnvSettings):
    """Frozen watchdog settings; build with ``WatchdogSettings.from_env(environ)``."""

    fprocess: str = Field("", validation_alias=AliasChoices("function_process", "fprocess"))
    mode: Mode = "streaming"
    upstream_url: str = Field("", validation_alias=AliasChoices("http_upstream_url", "upstream_url"))
    port: int = Field(8080, ge=0, le=65535)
    read_timeout: Duration = 30.0
    write_timeout: Duration = Field(30.0, gt=0)
    exec_timeout: Duration = 30.0
    healthcheck_interval: Duration | None = None
    max_inflight: int = Field(0, ge=0)
    content_type: str | None = None
    static_path: str = "/home/app/public"
    suppress_lock: EnvBool = False
    prefix_logs: EnvBool = True
    log_buffer_size: int = 65536
    ready_path: str = ""
    buffer_http: EnvBool = Field(False, validation_alias=AliasChoices("buffer_http", "http_buffer_req_body"))
    cgi_headers: EnvBool = True
    combine_output: EnvBool = True
    marshal_request: EnvBool = False
    write_debug: EnvBool = False
    log_callid: EnvBool = False
    # pyfaas extensions
    port_file: str = ""
    lock_path: str = ""
    metrics_port: int = Field(8081, ge=0, le=65535)
    handler: str = "./function"
    handler_style: Literal["auto", "http", "classic"] = "auto"
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=0)
    python_workers: int = Field(16, ge=1)
    python_inline: Literal["never", "auto"] = "never"
    bind_address: str = "0.0.0.0"
    # read from the environment only to compute defaults
    tmpdir: str = Field("", validation_alias="TMPDIR")
    hostname: str = Field("localhost", validation_alias="HOSTNAME")

    @field_validator("log_buffer_size")
    @classmethod
    def _log_buffer_size(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError("must be -1 (unbuffered) or a positive size in bytes")
        return value

    @field_validator("exec_timeout", "read_timeout", "healthcheck_interval")
    @classmethod
    def _non_negative(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError("must not be negative")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Self:
        """Build and cross-check settings; ``ConfigError`` names the offending variable."""
        settings = super().from_env(environ, **overrides)
        if settings.mode in {*FORKING_MODES, "http"} and not settings.argv:
            raise ConfigError(f"fprocess is required in mode {settings.mode}", field="fprocess")
        if settings.mode == "http" and not settings.upstream_url:
            raise ConfigError("upstream_url is required in mode http", field="upstream_url")
        return settings

    @property
    def grace_period(self) -> float:
        """Seconds between SIGTERM and closing the listener (``healthcheck_interval``)."""
        return self.write_timeout if self.healthcheck_interval is None else self.healthcheck_interval

    @property
    def lock_file(self) -> str:
        return lock_file_for(self.lock_path, self.tmpdir)

    @property
    def argv(self) -> list[str]:
        """``fprocess`` split as OpenFaaS splits it: on single spaces, no shell, no quoting."""
        return [part for part in self.fprocess.split(" ") if part]


def lock_file_for(lock_path: str, tmpdir: str) -> str:
    """``lock_path``, else ``.lock`` in the temp dir (``TMPDIR``, else ``/tmp``), as Go's ``os.TempDir``."""
    return lock_path or os.path.join(tmpdir or "/tmp", ".lock")
