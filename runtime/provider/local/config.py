"""Configuration of the local provider: where its state lives and how it supervises replicas."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LocalProviderConfig"]

_INHERITED = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONPATH")


def _inherited_from_this_process() -> dict[str, str]:
    # A container gets PATH/HOME from its image; a local replica gets them from the process that runs the
    # provider. Callers that build config in __main__ may pass their own mapping instead.
    inherited = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    # OpenTelemetry export settings reach the functions too (their spans join the gateway's traces); the
    # service name stays each replica's own (its function's name).
    inherited.update(
        (name, value)
        for name, value in os.environ.items()
        if name.startswith("OTEL_") and name != "OTEL_SERVICE_NAME"
    )
    return inherited


@dataclass(frozen=True)
class LocalProviderConfig:
    state_dir: Path
    """Root of everything the provider persists (layout in the package docstring)."""
    default_namespace: str = "openfaas-fn"
    """Namespace used when a request names none; it always exists."""
    ready_timeout: float = 30.0
    """Seconds a new replica has to answer ``/_/health`` with 200 before it is killed and retried."""
    restart_backoff: float = 0.2
    """First delay, in seconds, before restarting a replica that exited unexpectedly; doubles per crash."""
    restart_backoff_max: float = 10.0
    """Ceiling of the restart delay, in seconds."""
    backoff_reset_after: float = 10.0
    """A replica that stayed ready this many seconds resets its function's crash count."""
    drain_timeout: float = 15.0
    """Seconds a replica has to exit after SIGTERM before its process group is killed."""
    log_ring_bytes: int = 1 << 20
    """Cap, in bytes, of the on-disk log ring of one function (two halves of half this size)."""
    log_poll_interval: float = 0.1
    """Seconds between reads of the replicas' raw log files."""
    python_executable: str = sys.executable
    """Interpreter that runs ``python -m pyfaas.watchdog`` (and the zygote)."""
    max_body_bytes: int | None = None
    """The watchdog's request body limit for every replica unless its envVars set one: the gateway passes
    its own ``max_body_bytes``, so that it never accepts a body its functions refuse. None: the watchdog's
    default (the same as the gateway's)."""
    use_zygote: bool = True
    """Fork replicas from a warm zygote process; falls back to a plain subprocess if it cannot start."""
    sandbox: bool = False
    """Run each function in a bubblewrap sandbox of its own (``pyfaas.provider.local.sandbox``); where the
    machine cannot, replicas run as before and the reason is logged. The gateway turns it on unless its
    ``local_sandbox`` setting is false."""
    bwrap: str = "bwrap"
    """The bubblewrap program."""
    sandbox_hidden: tuple[Path, ...] = ()
    """Paths a sandbox must never show even when they lie inside a folder it shows (the state directory
    always is one): e.g. the gateway's credentials."""
    inherited_env: Mapping[str, str] = field(default_factory=_inherited_from_this_process)
    """Variables every replica inherits (PATH, HOME, TMPDIR ...); the function's envVars come on top."""
    replica_env_defaults: Mapping[str, str] = field(
        default_factory=lambda: {"healthcheck_interval": "1s", "PYTHONUNBUFFERED": "1"}
    )
    """Watchdog settings applied unless the function's envVars set them. ``healthcheck_interval`` (the
    watchdog's grace between SIGTERM and closing its listener) defaults to the write timeout, 30 s, so that a
    Kubernetes endpoint can be removed first; here the provider removes a replica from the ready set before
    it signals it, so one second covers a request that picked the replica just before (in-flight requests
    are drained after the grace in any case)."""
