"""One local platform run: start-up order, deploy on start, the wait for a stop signal, and shutdown.

Order: NATS → gateway → worker → Prometheus + AlertManager (when installed) → idler, each waited for until
ready; then the functions are deployed and waited for. Shutdown runs the other way round (idler, monitoring
and worker together, then the gateway, which stops the function replicas, then NATS), and finally anything
still carrying this state directory's marker is killed, so no process of the platform outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pyfaas.cli.deployment import local_deployment
from pyfaas.cli.errors import CliError
from pyfaas.cli.local.credentials import ensure_credentials
from pyfaas.cli.local.functions import (
    FunctionSource,
    deploy_functions,
    load_definitions,
    wait_functions_ready,
)
from pyfaas.cli.local.layout import Ports, RunLock, StateLayout, allocate_ports, port_in_use
from pyfaas.cli.local.progress import Reporter, RunState
from pyfaas.cli.local.service_supervisor import ServiceFailed, ServiceUnavailable, Supervisor
from pyfaas.cli.local.services import (
    STATE_MARKER,
    ServiceSpec,
    child_base_env,
    gateway_spec,
    idler_spec,
    monitoring_available,
    monitoring_spec,
    nats_binary,
    nats_config,
    nats_spec,
    worker_spec,
)
from pyfaas.core.alerting import FALLBACK_NOTE
from pyfaas.core.errors import ValidationFailed
from pyfaas.system.processes import ProcessRecord, kill_by_environment

__all__ = ["AlreadyRunning", "StartupFailed", "UpOptions", "run_platform", "sweep_leftovers"]

DEFAULT_NAMESPACE = "openfaas-fn"
MONITORING_FAILED_NOTE = (
    "alert-based scaling is off; the idler falls back to target tracking on the gateway's metrics "
    "(default_scale_type=rps)"
)
NO_MONITORING_NOTE = (
    "Prometheus/AlertManager off (--no-monitoring): the idler falls back to target tracking on the "
    "gateway's metrics."
)


class AlreadyRunning(Exception):
    """Another ``pyfaas up`` holds this state directory."""


class StartupFailed(Exception):
    """The platform could not be started: ``message`` is the cause, ``hint`` what to do about it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def line(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class UpOptions:
    state_dir: Path
    port: int = 8080
    source: FunctionSource | None = None
    """Functions to deploy once up (None: deploy nothing)."""
    monitoring: bool = True
    """Start Prometheus + AlertManager when installed (False: never; the idler falls back to the gateway)."""
    ready_timeout: float = 60.0
    """Seconds each service, and then the functions, have to become ready."""

    def to_json(self) -> dict[str, Any]:
        return {
            "state_dir": str(self.state_dir),
            "port": self.port,
            "source": str(self.source.path) if self.source else None,
            "bundled": bool(self.source and self.source.bundled),
            "monitoring": self.monitoring,
            "ready_timeout": self.ready_timeout,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UpOptions:
        source = FunctionSource(Path(data["source"]), bool(data["bundled"])) if data.get("source") else None
        return cls(
            state_dir=Path(data["state_dir"]),
            port=int(data["port"]),
            source=source,
            monitoring=bool(data["monitoring"]),
            ready_timeout=float(data["ready_timeout"]),
        )


def sweep_leftovers(layout: StateLayout) -> list[int]:
    """SIGKILL every process still marked as part of this platform (children, their children, replicas)."""
    killed = kill_by_environment(f"{STATE_MARKER}={layout.root}")
    killed += kill_by_environment(f"PYFAAS_STATE_DIR={layout.provider_dir}")
    return killed


def summary_of(layout: StateLayout, ports: Ports, user: str, password: str, **extra: Any) -> dict[str, Any]:
    return {
        "state_dir": str(layout.root),
        "gateway_url": ports.gateway_url,
        "ui_url": f"{ports.gateway_url}/ui/",
        "user": user,
        "password": password,
        "password_file": str(layout.root / "basic-auth-password"),
        "nats_url": f"nats://127.0.0.1:{ports.nats}",
        **extra,
    }


class _Run:
    """The state of one run between start-up and shutdown."""

    def __init__(
        self, options: UpOptions, layout: StateLayout, environ: Mapping[str, str], reporter: Reporter
    ) -> None:
        self.options = options
        self.layout = layout
        self.environ = environ
        self.reporter = reporter
        self.supervisor = Supervisor(
            layout.logs_dir,
            cwd=layout.root,
            on_change=self._record_children,
            notify=lambda text: reporter.event("note", "supervisor", text),
            ready_timeout=options.ready_timeout,
        )
        self.started: list[str] = []

    def _record_children(self, records: dict[str, ProcessRecord]) -> None:
        self.layout.write_json(self.layout.processes_file, {k: v.to_json() for k, v in records.items()})

    async def _start(self, spec: ServiceSpec, detail: str = "", *, optional: bool = False) -> bool:
        """Start one service with progress; False when it cannot run here, or (``optional``) failed."""
        self.reporter.event("start", spec.name, spec.title)
        try:
            await self.supervisor.start(spec)
        except ServiceUnavailable:
            return False
        except ServiceFailed as exc:
            if optional:
                self.reporter.event("note", spec.name, f"{spec.title} did not start: {exc}")
                return False
            self.reporter.event("fail", spec.name, str(exc))
            raise StartupFailed(
                f"{spec.title} did not start: {exc}", f"its log: {self.layout.log_file(spec.name)}"
            ) from exc
        self.started.append(spec.name)
        self.reporter.event("done", spec.name, detail)
        return True

    async def start(self) -> dict[str, Any]:
        layout, options = self.layout, self.options
        if options.port and port_in_use(options.port):
            raise StartupFailed(f"port {options.port} is in use", "choose another gateway port with --port")
        ports = allocate_ports(options.port)
        layout.write_json(layout.ports_file, ports.to_json())
        credentials = ensure_credentials(layout.root)
        base_env = child_base_env(self.environ, layout)
        (layout.nats_dir / "nats.conf").write_text(nats_config())

        await self._start(nats_spec(layout, ports, base_env, nats_binary()), f"nats://127.0.0.1:{ports.nats}")
        await self._start(gateway_spec(layout, ports, base_env), ports.gateway_url)
        await self._start(worker_spec(ports, base_env))
        alerts = False
        if options.monitoring and monitoring_available():
            spec = monitoring_spec(layout, ports, base_env)
            # optional: without it the idler scales on the gateway's metrics instead
            alerts = await self._start(spec, f"http://127.0.0.1:{ports.prometheus}", optional=True)
            if not alerts:  # installed but failed (said above): not "not installed"
                self.reporter.event("skip", spec.name, MONITORING_FAILED_NOTE)
        elif options.monitoring:
            self.reporter.event("note", "monitoring", FALLBACK_NOTE)
        else:
            self.reporter.event("note", "monitoring", NO_MONITORING_NOTE)
        await self._start(idler_spec(layout, ports, base_env, alerts_available=alerts))

        functions = await self._deploy(ports, credentials.user, credentials.password)
        extra: dict[str, Any] = {"functions": functions}
        if alerts:
            extra["prometheus_url"] = f"http://127.0.0.1:{ports.prometheus}"
            extra["alertmanager_url"] = f"http://127.0.0.1:{ports.alertmanager}"
        return summary_of(layout, ports, credentials.user, credentials.password, **extra)

    async def _deploy(self, ports: Ports, user: str, password: str) -> list[str]:
        source = self.options.source
        if source is None:
            return []
        self.reporter.event("start", "functions", f"functions of {source.describe()}")
        try:
            definitions = await asyncio.to_thread(load_definitions, source, self.environ)
        except (CliError, ValidationFailed, OSError) as exc:
            message = exc.message if isinstance(exc, CliError | ValidationFailed) else str(exc)
            self.reporter.event("fail", "functions", message)
            raise StartupFailed(message, "fix it, or start without deploying: pyfaas up --no-deploy") from exc
        specs = []
        for definition in definitions:
            try:
                # a template function may be built first (npm ci, go build): off the event loop
                spec = await asyncio.to_thread(
                    local_deployment, definition, source.folder, environ=self.environ
                )
                specs.append(spec)
            except CliError as exc:  # e.g. an image only: nothing to run without a container
                self.reporter.event("note", "functions", f"skipped {definition.name}: {exc.message}")
        async with httpx.AsyncClient(
            base_url=ports.gateway_url, auth=(user, password), timeout=30.0, trust_env=False
        ) as client:
            previous = self.layout.read_json(self.layout.deployed_file)
            failures, digests, unchanged = await deploy_functions(
                client, specs, previous if isinstance(previous, dict) else {}
            )
            self.layout.write_json(self.layout.deployed_file, digests)
            if unchanged:
                self.reporter.event(
                    "note", "functions", f"unchanged since the last start: {', '.join(unchanged)}"
                )
            for name, error in failures.items():
                self.reporter.event("note", "functions", f"deploy of {name} failed: {error}")
            deployed = {
                s.service: s.namespace or DEFAULT_NAMESPACE for s in specs if s.service not in failures
            }
            waiting = await wait_functions_ready(client, deployed, self.options.ready_timeout)
        for name, why in waiting.items():
            note = why or f"{name} is not ready yet (see: pyfaas logs {name})"
            self.reporter.event("note", "functions", note)
        self.reporter.event("done", "functions", "ready: " + (", ".join(deployed) or "(none)"))
        return list(deployed)

    async def stop(self) -> None:
        self.reporter.state("stopping")
        order = [["idler", "monitoring", "worker"], ["gateway"], ["nats"]]
        for names in order:
            await self.supervisor.stop(names)
        await asyncio.to_thread(sweep_leftovers, self.layout)


async def run_platform(
    options: UpOptions,
    environ: Mapping[str, str],
    reporter: Reporter,
    stop: asyncio.Event,
    on_ready: Callable[[dict[str, Any]], None],
) -> None:
    """Run the platform until ``stop`` is set; raises :class:`AlreadyRunning` or :class:`StartupFailed`.

    ``environ`` is the caller's environment: the children get only a few of its variables, and stack files
    are ``${VAR}``-substituted from it.
    """
    layout = StateLayout.at(options.state_dir)
    layout.create()
    lock = RunLock(layout.lock_file)
    if not lock.acquire():
        raise AlreadyRunning(str(layout.root))
    run = _Run(options, layout, environ, reporter)
    final_state: RunState = "stopped"
    try:
        own = ProcessRecord.of(os.getpid())
        layout.write_json(layout.pid_file, own.to_json() if own else {})
        await asyncio.to_thread(sweep_leftovers, layout)  # a previous run that was SIGKILLed
        started_at = time.monotonic()
        startup = asyncio.create_task(run.start())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({startup, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not startup.done():
            startup.cancel()
            with contextlib.suppress(asyncio.CancelledError, StartupFailed):
                await startup
            return
        stopped.cancel()
        try:
            try:
                summary = startup.result()
            except (OSError, httpx.HTTPError, ValueError) as exc:  # e.g. the gateway died during the deploy
                raise StartupFailed(f"{type(exc).__name__}: {exc}", f"logs in {layout.logs_dir}") from exc
        except StartupFailed as exc:
            final_state = "failed"
            reporter.state("failed", error=exc.line())
            raise
        summary["startup_seconds"] = round(time.monotonic() - started_at, 2)
        reporter.state("ready", summary=summary)
        on_ready(summary)
        await stop.wait()
    finally:
        await run.stop()
        with contextlib.suppress(OSError):
            layout.pid_file.unlink()
        reporter.state(final_state)
        lock.release()
