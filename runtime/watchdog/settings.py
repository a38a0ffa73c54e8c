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
    request body limit, default 32 MiB as the gateway's (``pyfaas.core.limits``); larger bodies get 413,
    marked with ``X-Pyfaas-Max-Body-Bytes`` so that the gateway answers it as its own JSON 413.
``read_header_timeout``
    a connection whose request head is not complete this long after its first byte is closed (default 10s;
    slowloris defence, ``pyfaas.system.http_guard``). Oversized headers get 431.
``python_workers``
    python mode: size of the thread pool that runs sync handlers (default 16; threads start on demand).
``python_inline``
    python mode: ``never`` (default) or ``auto``: a sync handler that proves CPU-trivial (2,000 calls in a
    row ≤ 0.5 ms) is then called on the event loop; one call over 2 ms sends it back to the pool.
``secret_mount_path``
    passed through to the function's environment untouched (functions read secrets from there).
``pyfaas_replica_key``
    set by the local provider only: every request but ``/_/health`` must carry it as
    ``X-Pyfaas-Replica-Key`` (403 otherwise); removed from the environment and each request before the
    function sees them (``pyfaas.watchdog.replica_key``).

Log line format: see ``pyfaas.watchdog.logs``.

Validation is plain Python rather than pydantic (the other services' ``EnvSettings``): the watchdog runs in
every replica, and importing pydantic cost each one about 10 MB of RSS. The rules and the error messages
are those of ``pyfaas.core.settings.EnvSettings`` (``tests/unit/watchdog/test_settings.py`` checks them
against an ``EnvSettings`` model of the same fields): a bad value raises ``ConfigError`` naming the
variable, e.g. ``invalid value for port='eighty': Input should be a valid integer, unable to parse string
as an integer``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, Self, get_args

from pyfaas.core.booleans import parse_bool
from pyfaas.core.durations import parse_duration
from pyfaas.core.errors import ConfigError
from pyfaas.core.limits import DEFAULT_MAX_BODY_BYTES
from pyfaas.watchdog.modes import MODES, PROCESS_MODES

__all__ = ["Mode", "WatchdogSettings", "lock_file_for"]

Mode = str
"""A name registered in ``pyfaas.watchdog.modes.MODES``."""
HandlerStyle = Literal["auto", "http", "classic"]
InlinePolicy = Literal["never", "auto"]


class _Invalid(ValueError):
    """A value a field rejects; the message is the one ``EnvSettings`` (pydantic) gives for it."""


_Parser = Callable[[Any], Any]

_INTEGER = re.compile(r"[+-]?[0-9](?:_?[0-9])*(?:\.0+)?", re.ASCII)


def _integer(ge: int | None = None, le: int | None = None) -> _Parser:
    def parse(value: Any) -> int:
        if isinstance(value, str):
            text = value.strip()
            if not _INTEGER.fullmatch(text):
                raise _Invalid("Input should be a valid integer, unable to parse string as an integer")
            number = int(text.split(".", 1)[0])
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise _Invalid("Input should be a valid integer")
        if ge is not None and number < ge:
            raise _Invalid(f"Input should be greater than or equal to {ge}")
        if le is not None and number > le:
            raise _Invalid(f"Input should be less than or equal to {le}")
        return number

    return parse


def _duration(*, positive: bool = False) -> _Parser:
    def parse(value: Any) -> float:
        if isinstance(value, str):
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                raise _Invalid(f"Value error, {exc}") from None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        else:
            raise _Invalid("Input should be a valid number")
        if positive and not seconds > 0:
            raise _Invalid("Input should be greater than 0")
        if seconds < 0:
            raise _Invalid("Value error, must not be negative")
        return seconds

    return parse


def _optional(parse: _Parser) -> _Parser:
    return lambda value: None if value is None else parse(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return parse_bool(value)
        except ValueError as exc:
            raise _Invalid(f"Value error, {exc}") from None
    raise _Invalid("Input should be a valid boolean")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("Input should be a valid string")
    return value


def _one_of(choices: tuple[str, ...]) -> _Parser:
    quoted = [repr(choice) for choice in choices]
    message = "Input should be " + (
        ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]
    )

    def parse(value: Any) -> str:
        if value not in choices:
            raise _Invalid(message)
        return str(value)

    return parse


_ANY_INTEGER = _integer()


def _log_buffer_size(value: Any) -> int:
    size: int = _ANY_INTEGER(value)
    if size == 0 or size < -1:
        raise _Invalid("Value error, must be -1 (unbuffered) or a positive size in bytes")
    return size


@dataclass(frozen=True, slots=True)
class WatchdogSettings:
    """Frozen watchdog settings; build with ``WatchdogSettings.from_env(environ)``."""

    fprocess: str = ""
    mode: Mode = "streaming"
    upstream_url: str = ""
    port: int = 8080
    read_timeout: float = 30.0
    read_header_timeout: float = 10.0
    write_timeout: float = 30.0
    exec_timeout: float = 30.0
    healthcheck_interval: float | None = None
    max_inflight: int = 0
    content_type: str | None = None
    static_path: str = "/home/app/public"
    suppress_lock: bool = False
    prefix_logs: bool = True
    log_buffer_size: int = 65536
    ready_path: str = ""
    buffer_http: bool = False
    cgi_headers: bool = True
    combine_output: bool = True
    marshal_request: bool = False
    write_debug: bool = False
    log_callid: bool = False
    # pyfaas extensions
    port_file: str = ""
    lock_path: str = ""
    metrics_port: int = 8081
    handler: str = "./function"
    handler_style: HandlerStyle = "auto"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    python_workers: int = 16
    python_inline: InlinePolicy = "never"
    bind_address: str = "0.0.0.0"
    # read from the environment only to compute defaults
    tmpdir: str = ""
    hostname: str = "localhost"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Self:
        """Build and cross-check settings; ``ConfigError`` names the offending variable."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            names, parse = _FIELDS[field.name]
            variable = next((name for name in names if name in environ), None)
            if field.name in overrides:
                raw, variable = overrides[field.name], variable or field.name
            elif variable is not None:
                raw = environ[variable]
            else:
                continue
            try:
                values[field.name] = parse(raw)
            except _Invalid as exc:
                raise ConfigError(f"invalid value for {variable}={raw!r}: {exc}", field=variable) from None
        settings = cls(**values)
        if settings.mode in PROCESS_MODES and not settings.argv:
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


_FIELDS: dict[str, tuple[tuple[str, ...], _Parser]] = {
    # field: (environment names, preferred first; parser)
    "fprocess": (("function_process", "fprocess"), _text),
    "mode": (("mode",), _one_of(tuple(MODES))),
    "upstream_url": (("http_upstream_url", "upstream_url"), _text),
    "port": (("port",), _integer(ge=0, le=65535)),
    "read_timeout": (("read_timeout",), _duration()),
    "read_header_timeout": (("read_header_timeout",), _duration(positive=True)),
    "write_timeout": (("write_timeout",), _duration(positive=True)),
    "exec_timeout": (("exec_timeout",), _duration()),
    "healthcheck_interval": (("healthcheck_interval",), _optional(_duration())),
    "max_inflight": (("max_inflight",), _integer(ge=0)),
    "content_type": (("content_type",), _optional(_text)),
    "static_path": (("static_path",), _text),
    "suppress_lock": (("suppress_lock",), _boolean),
    "prefix_logs": (("prefix_logs",), _boolean),
    "log_buffer_size": (("log_buffer_size",), _log_buffer_size),
    "ready_path": (("ready_path",), _text),
    "buffer_http": (("buffer_http", "http_buffer_req_body"), _boolean),
    "cgi_headers": (("cgi_headers",), _boolean),
    "combine_output": (("combine_output",), _boolean),
    "marshal_request": (("marshal_request",), _boolean),
    "write_debug": (("write_debug",), _boolean),
    "log_callid": (("log_callid",), _boolean),
    "port_file": (("port_file",), _text),
    "lock_path": (("lock_path",), _text),
    "metrics_port": (("metrics_port",), _integer(ge=0, le=65535)),
    "handler": (("handler",), _text),
    "handler_style": (("handler_style",), _one_of(get_args(HandlerStyle))),
    "max_body_bytes": (("max_body_bytes",), _integer(ge=0)),
    "python_workers": (("python_workers",), _integer(ge=1)),
    "python_inline": (("python_inline",), _one_of(get_args(InlinePolicy))),
    "bind_address": (("bind_address",), _text),
    "tmpdir": (("TMPDIR",), _text),
    "hostname": (("HOSTNAME",), _text),
}


def lock_file_for(lock_path: str, tmpdir: str) -> str:
    """``lock_path``, else ``.lock`` in the temp dir (``TMPDIR``, else ``/tmp``), as Go's ``os.TempDir``."""
    return lock_path or os.path.join(tmpdir or "/tmp", ".lock")
