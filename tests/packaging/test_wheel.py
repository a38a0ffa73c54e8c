"""The built wheel is whole: installed in a fresh virtualenv outside the checkout, it runs the platform with
Prometheus and AlertManager from an empty folder, scales a function on an alert, and ``pyfaas new``,
``deploy`` and ``invoke`` work.

Nothing is downloaded: the wheel is built with the checkout's setuptools (``--no-build-isolation``) and
installed with ``--no-deps --no-index``; its dependencies come from this test's own virtualenv through a
``.pth`` file holding that site-packages folder as a plain path (a plain path line does not run the ``.pth``
files in that folder, so the checkout's editable install stays out; the test checks ``pyfaas.__file__``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import pyfaas
from tests.support.platform import LocalPlatform, marked_processes, wait_until
from tests.support.prometheus import requires_monitoring

pytestmark = [pytest.mark.slow, pytest.mark.prometheus, requires_monitoring, pytest.mark.timeout(240)]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_NAMES = {"echo", "json-api", "wc", "slow", "sleepy"}
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", ".pyfaas", ".mypy_cache", ".ruff_cache", ".pytest_cache",
    ".hypothesis", "test-artifacts", "build", "dist",
)  # fmt: skip
SHIPPED = [
    "pyfaas/py.typed",
    "pyfaas/_bundled/alerts/rules.yml",
    "pyfaas/_bundled/alerts/prometheus.yml",
    "pyfaas/_bundled/alerts/alertmanager.yml",
    "pyfaas/_bundled/examples/stack.yml",
    "pyfaas/_bundled/examples/echo/handler.py",
    "pyfaas/_bundled/templates/python3-http/template.yml",
    "pyfaas/_bundled/templates/python3-http/Dockerfile",
    "pyfaas/gateway/ui/assets/index.html",
    "pyfaas/store/catalog.json",
    "pyfaas/infra/pyfaas_platform.py",
    "pyfaas/__main__.py",
]


@dataclass(frozen=True)
class Install:
    venv: Path
    wheel: Path
    home: Path

    @property
    def env(self) -> dict[str, str]:
        """A user's environment: this install's bin first, the system's tools (prometheus) after, no
        PYTHONPATH and nothing of the test run."""
        path = f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"
        return {"HOME": str(self.home), "PATH": path, "LANG": "C.UTF-8"}

    def run(
        self, *args: str, cwd: Path, stdin: str = "", timeout: float = 150
    ) -> subprocess.CompletedProcess[str]:
        """``pyfaas ARGS``, found on PATH (this install's console script)."""
        assert not cwd.resolve().is_relative_to(REPO_ROOT)
        return subprocess.run(
            ["pyfaas", *args], cwd=cwd, env=self.env, input=stdin, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip


def _check(
    command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    work = tmp_path_factory.mktemp("wheel")
    source, dist, venv = work / "source", work / "dist", work / "venv"
    # A copy of the sources: the build writes build/ and *.egg-info next to them, never into the checkout.
    shutil.copytree(REPO_ROOT, source, symlinks=True, ignore=NOT_SOURCES)
    _check([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
            "-w", str(dist), str(source)])  # fmt: skip
    (wheel,) = dist.glob("pyfaas-*.whl")
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _check([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
            str(wheel)])  # fmt: skip
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_check([str(python), "-c", purelib]).stdout.strip())
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "_pyfaas_test_dependencies.pth").write_text("".join(f"{path}\n" for path in ours))
    home = work / "home"
    home.mkdir()
    return Install(venv=venv, wheel=wheel, home=home)


def test_the_wheel_carries_the_data_files_and_the_metadata(install: Install) -> None:
    with zipfile.ZipFile(install.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"pyfaas-{pyfaas.__version__}.dist-info/METADATA").decode()
    assert [name for name in SHIPPED if name not in names] == []
    assert f"pyfaas-{pyfaas.__version__}.dist-info/licenses/LICENSE" in names
    assert not [name for name in names if name.endswith(".pyc") or "/.pyfaas/" in name]
    assert f"Version: {pyfaas.__version__}\n" in metadata and "License-Expression: MIT\n" in metadata
    assert "Classifier: Typing :: Typed\n" in metadata and "Project-URL: Changelog, " in metadata


def test_the_install_imports_pyfaas_from_itself_not_from_the_checkout(
    install: Install, tmp_path: Path
) -> None:
    code = (
        "import json, sys, pyfaas, pyfaas.core.resources as r;"
        "print(json.dumps([pyfaas.__file__, str(r.bundled('alerts')), pyfaas.__version__,"
        " [m for m in sys.modules if m.startswith('__editable__')]]))"
    )
    result = _check([str(install.venv / "bin" / "python"), "-c", code], cwd=tmp_path, env=install.env)
    location, alerts, version, editable = json.loads(result.stdout)
    assert Path(location).is_relative_to(install.venv) and Path(alerts).is_relative_to(install.venv)
    assert version == pyfaas.__version__ and editable == []
    assert install.run("--version", cwd=tmp_path).stdout == f"pyfaas {pyfaas.__version__}\n"


class _Load:
    """Synchronous calls to one function from two threads until stopped."""

    def __init__(self, url: str) -> None:
        self.url, self.codes, self._stop = url, [0, 0], threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(2)]

    def _run(self) -> None:
        with httpx.Client(timeout=10, trust_env=False) as client:
            while not self._stop.is_set():
                ok = client.post(self.url, content=b"load").status_code == 200
                self.codes[0 if ok else 1] += 1
                self._stop.wait(0.01)

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def _alert_scalings(metrics_url: str, function: str) -> float:
    """``gateway_alert_outcomes_total{action="scaled",status="firing"}`` of ``function`` (0 when absent)."""
    prefix = f'gateway_alert_outcomes_total{{action="scaled",function_name="{function}",status="firing"}} '
    text = httpx.get(metrics_url, timeout=10, trust_env=False).text
    return sum(float(line.removeprefix(prefix)) for line in text.splitlines() if line.startswith(prefix))


@pytest.fixture
def platform(install: Install, tmp_path: Path) -> Iterator[LocalPlatform]:
    """``pyfaas up --detach`` from the install in an empty folder (default state dir ``./.pyfaas``);
    ``pyfaas down`` after, and nothing of it may be left running."""
    site = tmp_path / "empty"
    site.mkdir()
    result = install.run("up", "--detach", "--port", "0", cwd=site)
    state = site / ".pyfaas"
    up = LocalPlatform(state_dir=state.resolve(), cwd=site, up_output=result.stdout + result.stderr)
    try:
        assert result.returncode == 0, up.up_output
        up.snapshot()
        yield up
        up.snapshot()
    finally:
        down = install.run("down", cwd=site)
        survivors = up.survivors()
        for record in survivors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
    assert down.returncode == 0, down.stdout + down.stderr
    assert survivors == [] and marked_processes(state) == []


def test_up_from_the_wheel_runs_monitoring_scales_on_alerts_and_serves_new_functions(
    install: Install, platform: LocalPlatform, tmp_path: Path
) -> None:
    output = platform.up_output
    assert "Traceback" not in output and "not installed" not in output and "did not start" not in output
    assert "Prometheus" in output and "AlertManager" in output
    assert {"prometheus", "alertmanager"} <= set(platform.ports)
    monitoring_log = (platform.state_dir / "logs" / "monitoring.log").read_text(errors="replace")
    assert "Traceback" not in monitoring_log
    assert str(install.venv) in output  # the bundled examples came from the installed package
    with platform.client() as client:
        assert {f["name"] for f in client.get("/system/functions").json()} == EXAMPLE_NAMES

    project = tmp_path / "project"
    project.mkdir()
    gateway = platform.gateway_url
    created = install.run("new", "hello", "--lang", "python3-http", "-g", gateway, cwd=project)
    assert created.returncode == 0 and (project / "hello" / "handler.py").is_file(), created.stderr
    (project / "hello" / "handler.py").write_text(
        "def handle(event, context):\n"
        "    return {'statusCode': 200, 'body': 'wheel says ' + event.body.decode()}\n"
    )
    login = install.run("login", "-g", gateway, "--password-stdin", cwd=project, stdin=platform.password)
    assert login.returncode == 0, login.stderr
    deployed = install.run("deploy", "-f", "stack.yml", "-g", gateway, cwd=project)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    invoked = install.run("invoke", "hello", "-g", gateway, cwd=project, stdin="hi")
    assert (invoked.returncode, invoked.stdout.strip()) == (0, "wheel says hi"), invoked.stderr

    # Alert-driven scaling: > 5 calls/s fires APIHighInvocationRate in Prometheus, AlertManager posts it to
    # /system/alert, and the gateway adds replicas ("hello" has no scale.type label: no target tracking).
    metrics = f"http://127.0.0.1:{platform.ports['gateway_metrics']}/metrics"
    with platform.client() as client, _Load(f"{gateway}/function/hello") as load:

        def scaled() -> bool:
            return int(client.get("/system/function/hello").json()["availableReplicas"]) >= 2

        wait_until(scaled, 60, "hello was not scaled up by the alert")
    assert _alert_scalings(metrics, "hello.openfaas-fn") >= 1
    assert load.codes[0] > 0 and load.codes[1] == 0, load.codes
