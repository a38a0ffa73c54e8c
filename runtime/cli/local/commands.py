"""The click commands ``pyfaas up`` and ``pyfaas down`` (registered on the root group in ``pyfaas.cli``).

This is the process edge of local mode: the only place that reads ``os.environ`` (``PYFAAS_ADMIN_PASSWORD``,
``PYFAAS_PORT``, and the variables stack files substitute) and hands everything below it explicitly.
The platform modules (httpx, rich, the provider) are imported inside the commands: ``pyfaas --help`` imports
this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from pyfaas.cli.errors import CliError, format_error
from pyfaas.core.errors import ValidationFailed

if TYPE_CHECKING:
    from pyfaas.cli.local.functions import FunctionSource
    from pyfaas.cli.local.layout import StateLayout
    from pyfaas.cli.local.platform import UpOptions

__all__ = ["down", "up"]

DEFAULT_STATE_DIR = ".pyfaas"


def _fail(message: str, hint: str = "") -> NoReturn:
    click.echo(format_error(message, hint), err=True)
    sys.exit(1)


def _shown_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter to read and to copy)."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def pyfaas_command() -> str:
    """How a shell runs this pyfaas: ``pyfaas`` when that name on PATH is this installation, else its script
    by full path (``scripts/up.sh`` runs ``.venv/bin/pyfaas``, and ``.venv/bin`` is usually not on PATH)."""
    script = Path(sys.executable).with_name("pyfaas")
    if not script.is_file():
        return f"{sys.executable} -m pyfaas"
    found = shutil.which("pyfaas")
    if found and Path(found).resolve() == script.resolve():
        return "pyfaas"
    return str(script)


def _already_running(layout: StateLayout) -> NoReturn:
    ports = layout.ports()
    where = f" at {ports.gateway_url}" if ports else ""
    state = _shown_path(layout.root)
    _fail(
        f"pyfaas is already running{where} with state directory {state}",
        f"stop it: {pyfaas_command()} down --state-dir {state}",
    )


def print_summary(summary: dict[str, Any], *, detached: bool) -> None:
    state = summary["state_dir"]
    rows = [
        ("Gateway", summary["gateway_url"]),
        ("UI", summary["ui_url"]),
        ("User", summary["user"]),
        ("Password", f"{summary['password']}  (in {summary['password_file']})"),
        ("Functions", ", ".join(summary.get("functions") or []) or "(none)"),
        ("NATS", summary["nats_url"]),
    ]
    if summary.get("prometheus_url"):
        rows.append(("Prometheus", summary["prometheus_url"]))
        rows.append(("AlertManager", summary["alertmanager_url"]))
    if summary.get("functions"):
        rows.append(("Try", f"curl -s {summary['gateway_url']}/function/{summary['functions'][0]} -d hello"))
    rows.append(("State", state))
    rows.append(("Stop", f"{pyfaas_command()} down --state-dir {state}" if detached else "Ctrl-C"))
    click.echo(f"pyfaas is up ({summary.get('startup_seconds', 0):.1f}s).")
    for label, value in rows:
        click.echo(f"  {label:<12} {value}")


def _source(file: str | None, deploy: bool) -> FunctionSource | None:
    from pyfaas.cli.local.functions import FunctionSource, find_source

    if not deploy:
        return None
    if file:
        path = Path(file).resolve()
        if not path.is_file():
            _fail(f"{file}: no such file", "give a stack.yml or functions.py")
        return FunctionSource(path)
    return find_source(Path.cwd())


@click.command()
@click.option(
    "--state-dir", default=DEFAULT_STATE_DIR, show_default=True, help="Directory of all local state."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    envvar="PYFAAS_PORT",
    help="Gateway port (0: any free port). Env: PYFAAS_PORT.",
)
@click.option("-d", "--detach", is_flag=True, help="Run in the background; return once everything is ready.")
@click.option(
    "-f", "--file", "file", default=None, help="Stack file or functions.py to deploy (default: found in cwd)."
)
@click.option("--deploy/--no-deploy", default=True, show_default=True, help="Deploy functions on start.")
@click.option(
    "--monitoring/--no-monitoring",
    default=True,
    show_default=True,
    help="Run Prometheus + AlertManager when they are installed.",
)
@click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="Seconds each part has to get ready."
)
def up(
    state_dir: str, port: int, detach: bool, file: str | None, deploy: bool, monitoring: bool, timeout: float
) -> None:
    """Run the whole platform on this machine: NATS, gateway, worker, idler, Prometheus + AlertManager.

    Deploys stack.yml (or stack.yaml, or functions.py) from the current directory, else the bundled examples.
    Ctrl-C stops everything; with --detach, stop it with `pyfaas down`.
    """
    from pyfaas.cli.local.credentials import ensure_credentials
    from pyfaas.cli.local.functions import load_definitions
    from pyfaas.cli.local.layout import RunLock, StateLayout
    from pyfaas.cli.local.platform import UpOptions

    layout = StateLayout.at(state_dir)
    if RunLock.is_held(layout.lock_file):
        _already_running(layout)
    source = _source(file, deploy)
    if source is not None:
        try:
            load_definitions(source, os.environ)  # a bad stack fails here, before anything starts
        except CliError as exc:
            _fail(exc.message, exc.hint)
        except ValidationFailed as exc:
            _fail(exc.message, "fix the file, or start without it: pyfaas up --no-deploy")
    try:
        layout.create()
        ensure_credentials(layout.root, os.environ.get("PYFAAS_ADMIN_PASSWORD"))
    except OSError as exc:
        _fail(f"cannot use state directory {layout.root}: {exc.strerror}", "choose another with --state-dir")
    from pyfaas.provider.local.sandbox import startup_warning

    if (warning := startup_warning(os.environ)) is not None:
        click.echo(f"warning: {warning}", err=True)
    options = UpOptions(
        state_dir=layout.root, port=port, source=source, monitoring=monitoring, ready_timeout=timeout
    )
    if detach:
        _run_detached(options, layout)
    else:
        _run_foreground(options, layout)


def _run_foreground(options: UpOptions, layout: StateLayout) -> None:
    import asyncio

    from rich.console import Console

    from pyfaas.cli.local.platform import AlreadyRunning, StartupFailed, run_platform
    from pyfaas.cli.local.progress import ConsoleReporter, StatusFileReporter, TeeReporter

    status = StatusFileReporter(layout, uuid.uuid4().hex, echo=False)
    reporter = TeeReporter(ConsoleReporter(Console(stderr=True)), status)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)

        def ready(summary: dict[str, Any]) -> None:
            print_summary(summary, detached=False)
            click.echo("Press Ctrl-C to stop.", err=True)

        await run_platform(options, os.environ, reporter, stop, ready)

    try:
        asyncio.run(main())
    except AlreadyRunning:
        _already_running(layout)
    except StartupFailed as exc:
        _fail(exc.message, exc.hint)
    click.echo("pyfaas stopped.", err=True)


def _run_detached(options: UpOptions, layout: StateLayout) -> None:
    from rich.console import Console

    from pyfaas.cli.local.progress import ConsoleReporter, replay
    from pyfaas.cli.local.services import python_path

    run_id = uuid.uuid4().hex
    argument = json.dumps({**options.to_json(), "run_id": run_id})
    env = {**os.environ, "PYTHONPATH": python_path(os.environ)}
    with layout.log_file("up").open("ab") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "pyfaas.cli.local.daemon", argument],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=layout.root,
            env=env,
            start_new_session=True,
        )
    reporter = ConsoleReporter(Console(stderr=True))
    shown = 0
    try:
        while True:
            status, shown = replay(layout.status_file, run_id, reporter, shown)
            state = status.get("state") if status else None
            if state == "ready" and status is not None:
                reporter.state("ready")
                print_summary(status["summary"], detached=True)
                return
            if state in ("failed", "stopped") and status is not None:
                reporter.state("failed")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    daemon.wait(timeout=120)  # it is stopping what it started: return when that is done
                error = str(status.get("error") or "")
                if error.startswith("pyfaas is already running"):
                    _already_running(layout)
                if error:
                    _fail(error)
                _fail("stopped during start-up", f"see {_shown_path(layout.log_file('up'))}")
            if daemon.poll() is not None:
                reporter.state("failed")
                _fail(
                    f"the supervisor exited with code {daemon.returncode}",
                    f"see {_shown_path(layout.log_file('up'))}",
                )
            time.sleep(0.1)
    except KeyboardInterrupt:
        reporter.state("stopping")
        click.echo("Interrupted: stopping.", err=True)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait()
        sys.exit(130)


@click.command()
@click.option(
    "--state-dir", default=DEFAULT_STATE_DIR, show_default=True, help="State directory of the platform."
)
@click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for a clean stop."
)
def down(state_dir: str, timeout: float) -> None:
    """Stop the platform started by `pyfaas up` (detached or not) for a state directory."""
    from pyfaas.cli.local.layout import StateLayout
    from pyfaas.cli.local.stop import stop_platform

    layout = StateLayout.at(state_dir)
    if not layout.root.is_dir():
        click.echo(f"Nothing to stop: {state_dir} does not exist.")
        return
    result = stop_platform(layout, timeout)
    if not result.was_running:
        suffix = f"; killed {result.leftovers} leftover process(es)" if result.leftovers else ""
        click.echo(f"pyfaas is not running with state directory {_shown_path(layout.root)}{suffix}.")
        return
    if result.forced:
        click.echo(f"pyfaas did not stop within {timeout:g}s and was killed.", err=True)
    click.echo("pyfaas stopped.")
