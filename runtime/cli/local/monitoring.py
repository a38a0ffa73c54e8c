"""Local mode's Prometheus and AlertManager: render ``alerts/`` for loopback and run both binaries.

:class:`MonitoringStack` writes the rendered configuration (``pyfaas.core.alerting``, local timings: 1 s
scrape and evaluation, 0.5 s group_wait) into a work directory, starts ``prometheus`` and
``prometheus-alertmanager`` on 127.0.0.1 with their storage there, waits until both answer ``/-/ready`` and
stops them (SIGTERM, then SIGKILL of the process group) on exit. It is used by the test fixtures and by
``python -m pyfaas.cli.local.monitoring``, which ``pyfaas up`` spawns as a child process (the CLI does not
import the idler): it runs until SIGTERM and exits 3 with a note when the binaries are not installed.

Settings of ``python -m pyfaas.cli.local.monitoring`` (environment): ``gateway_url`` (``http://127.0.0.1:8080``),
``gateway_metrics_address`` (``127.0.0.1:8082``), ``prometheus_port`` (9090), ``alertmanager_port`` (9093),
``monitoring_dir`` (``.pyfaas/monitoring``), ``basic_auth`` and ``secret_mount_path`` (the gateway's; the
password file is read by AlertManager itself), ``alerts_dir`` (default: the bundled ``alerts/``,
:func:`pyfaas.core.resources.bundled`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
from pydantic import Field

from pyfaas.core.alerting import (
    ALERTMANAGER_BINARIES,
    ALERTMANAGER_FILE,
    FALLBACK_NOTE,
    LOCAL_TIMINGS,
    PROMETHEUS_BINARIES,
    PROMETHEUS_FILE,
    RULES_FILE,
    AlertmanagerValues,
    PrometheusValues,
    Timings,
    alertmanager_args,
    gateway_alert_url,
    prometheus_args,
    render_alertmanager,
    render_prometheus,
)
from pyfaas.core.errors import ConfigError, ProviderError
from pyfaas.core.resources import bundled
from pyfaas.core.settings import EnvBool, EnvSettings
from pyfaas.system.credentials import PASSWORD_FILE, load_user
from pyfaas.system.processes import kill_group

__all__ = [
    "DEFAULT_ALERTS_DIR",
    "EXIT_NOT_INSTALLED",
    "FALLBACK_NOTE",
    "MonitoringConfig",
    "MonitoringSettings",
    "MonitoringStack",
    "find_binaries",
]

log = logging.getLogger("pyfaas.cli.local.monitoring")

DEFAULT_ALERTS_DIR = bundled("alerts")
EXIT_NOT_INSTALLED = 3


def find_binaries() -> tuple[str, str] | None:
    """Paths of (prometheus, alertmanager), or None when either is missing."""
    prometheus = next((p for name in PROMETHEUS_BINARIES if (p := shutil.which(name))), None)
    alertmanager = next((p for name in ALERTMANAGER_BINARIES if (p := shutil.which(name))), None)
    if prometheus is None or alertmanager is None:
        return None
    return prometheus, alertmanager


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class MonitoringConfig:
    work_dir: Path
    """Rendered configuration, storage and logs of both processes."""
    gateway_url: str
    """Base URL of the gateway's API (AlertManager posts to ``/system/alert`` there)."""
    gateway_metrics_target: str
    """``host:port`` of the gateway's metrics listener."""
    prometheus_port: int = 0
    """0 picks a free port."""
    alertmanager_port: int = 0
    basic_auth_user: str | None = None
    basic_auth_password_file: str | None = None
    alerts_dir: Path = DEFAULT_ALERTS_DIR
    timings: Timings = LOCAL_TIMINGS
    host: str = "127.0.0.1"
    binaries: tuple[str, str] | None = field(default=None)
    """(prometheus, alertmanager) executables; None looks them up on PATH."""


@dataclass
class _Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path


class MonitoringStack:
    """Prometheus + AlertManager for one gateway; an async context manager."""

    def __init__(self, config: MonitoringConfig) -> None:
        self.config = config
        self.prometheus_port = config.prometheus_port or _free_port(config.host)
        self.alertmanager_port = config.alertmanager_port or _free_port(config.host)
        self._children: list[_Child] = []

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.config.host}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{self.config.host}:{self.alertmanager_port}"

    def write_configs(self) -> tuple[Path, Path]:
        """Render ``alerts/`` into the work directory; returns (prometheus.yml, alertmanager.yml)."""
        config = self.config
        work = config.work_dir
        work.mkdir(parents=True, exist_ok=True)
        rules = work / RULES_FILE
        shutil.copyfile(config.alerts_dir / RULES_FILE, rules)
        prometheus_yml = work / PROMETHEUS_FILE
        prometheus_yml.write_text(
            render_prometheus(
                (config.alerts_dir / PROMETHEUS_FILE).read_text(),
                PrometheusValues(
                    gateway_metrics_target=config.gateway_metrics_target,
                    alertmanager_target=f"{config.host}:{self.alertmanager_port}",
                    rules_path=str(rules),
                    prometheus_target=f"{config.host}:{self.prometheus_port}",
                    timings=config.timings,
                ),
            )
        )
        alertmanager_yml = work / ALERTMANAGER_FILE
        alertmanager_yml.write_text(
            render_alertmanager(
                (config.alerts_dir / ALERTMANAGER_FILE).read_text(),
                AlertmanagerValues(
                    gateway_alert_url=gateway_alert_url(config.gateway_url),
                    basic_auth_user=config.basic_auth_user,
                    basic_auth_password_file=config.basic_auth_password_file,
                    timings=config.timings,
                ),
            )
        )
        return prometheus_yml, alertmanager_yml

    async def start(self, ready_within: float = 30.0) -> None:
        binaries = self.config.binaries or find_binaries()
        if binaries is None:
            raise ProviderError(FALLBACK_NOTE)
        prometheus_yml, alertmanager_yml = self.write_configs()
        work = self.config.work_dir
        host = self.config.host
        try:
            await self._spawn(
                "alertmanager",
                binaries[1],
                alertmanager_args(
                    str(alertmanager_yml), str(work / "alertmanager-data"), f"{host}:{self.alertmanager_port}"
                ),
            )
            await self._spawn(
                "prometheus",
                binaries[0],
                prometheus_args(
                    str(prometheus_yml),
                    str(work / "prometheus-data"),
                    f"{host}:{self.prometheus_port}",
                    self.config.timings,
                ),
            )
            await self._wait_ready(ready_within)
        except BaseException:
            await self.stop()
            raise

    async def _spawn(self, name: str, binary: str, args: list[str]) -> None:
        log_path = self.config.work_dir / f"{name}.log"
        with log_path.open("ab") as log_file:
            process = await asyncio.create_subprocess_exec(
                binary,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        self._children.append(_Child(name, process, log_path))

    async def _wait_ready(self, ready_within: float) -> None:
        deadline = time.monotonic() + ready_within
        pending = {
            "prometheus": f"{self.prometheus_url}/-/ready",
            "alertmanager": f"{self.alertmanager_url}/-/ready",
        }
        async with httpx.AsyncClient(timeout=1.0) as client:
            while pending:
                for child in self._children:
                    if child.process.returncode is not None:
                        tail = child.log_path.read_text(errors="replace")[-1500:]
                        raise ProviderError(f"{child.name} exited with {child.process.returncode}: {tail}")
                for name, url in list(pending.items()):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(url)).status_code == 200:
                            del pending[name]
                if time.monotonic() > deadline:
                    raise ProviderError(f"not ready within {ready_within}s: {', '.join(pending)}")
                if pending:
                    await asyncio.sleep(0.05)

    async def wait_scraping(self, within: float = 15.0) -> None:
        """Wait until Prometheus has scraped the gateway successfully (its first scrape of a new target comes
        a few seconds after start-up: target updates are applied every 5 s)."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    response = await client.get(
                        f"{self.prometheus_url}/api/v1/query", params={"query": 'up{job="gateway"} == 1'}
                    )
                    if response.json()["data"]["result"]:
                        return
                await asyncio.sleep(0.1)
        raise ProviderError(f"Prometheus did not scrape the gateway within {within}s")

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM both; SIGKILL the process group of any that has not exited within ``grace`` seconds."""
        children, self._children = self._children, []
        for child in children:
            if child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        for child in children:
            try:
                await asyncio.wait_for(child.process.wait(), grace)
            except TimeoutError:
                kill_group(child.process.pid, signal.SIGKILL)
                await child.process.wait()

    async def __aenter__(self) -> MonitoringStack:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class MonitoringSettings(EnvSettings):
    """Environment of ``python -m pyfaas.cli.local.monitoring`` (see the module docstring)."""

    gateway_url: str = "http://127.0.0.1:8080"
    gateway_metrics_address: str = "127.0.0.1:8082"
    prometheus_port: int = Field(9090, ge=0, le=65535)
    alertmanager_port: int = Field(9093, ge=0, le=65535)
    monitoring_dir: str = ".pyfaas/monitoring"
    basic_auth: EnvBool = False
    secret_mount_path: str = "/run/secrets/"
    alerts_dir: str = ""

    def config(self) -> MonitoringConfig:
        user: str | None = None
        password_file: str | None = None
        if self.basic_auth:
            user = load_user(self.secret_mount_path)
            password_file = str((Path(self.secret_mount_path) / PASSWORD_FILE).resolve())
        return MonitoringConfig(
            work_dir=Path(self.monitoring_dir).resolve(),
            gateway_url=self.gateway_url,
            gateway_metrics_target=self.gateway_metrics_address,
            prometheus_port=self.prometheus_port,
            alertmanager_port=self.alertmanager_port,
            basic_auth_user=user,
            basic_auth_password_file=password_file,
            alerts_dir=Path(self.alerts_dir) if self.alerts_dir else DEFAULT_ALERTS_DIR,
        )


async def _run(config: MonitoringConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with MonitoringStack(config) as stack:
        log.info("Prometheus on %s, AlertManager on %s", stack.prometheus_url, stack.alertmanager_url)
        await stop.wait()


def main() -> None:
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if find_binaries() is None:
        print(f"pyfaas-monitoring: {FALLBACK_NOTE}", file=sys.stderr)
        sys.exit(EXIT_NOT_INSTALLED)
    try:
        config = MonitoringSettings.from_env(os.environ).config()
        asyncio.run(_run(config))
    except (ConfigError, ProviderError) as exc:
        print(f"pyfaas-monitoring: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:  # e.g. an alerts_dir without the three files: one line, not a traceback
        print(f"pyfaas-monitoring: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
