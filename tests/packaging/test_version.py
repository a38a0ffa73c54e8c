"""One version everywhere: ``pyfaas --version`` (console script and ``python -m pyfaas``), ``pyfaas version``
and the gateway's ``GET /system/info`` (gateway and provider) all report ``pyfaas.__version__``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import pyfaas
from tests.support.cli import REPO_ROOT, Platform, cli_env, running_platform

CONSOLE_SCRIPT = Path(sys.executable).parent / "pyfaas"


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    yield from running_platform()


def _run(argv: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """A real child process, started outside the repository with only HOME and PATH set."""
    return subprocess.run(
        argv, cwd=home, env=cli_env(home), capture_output=True, text=True, timeout=60, check=False
    )


def test_the_source_of_the_version_is_what_setuptools_reads() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "pyfaas.core.version.__version__" }' in pyproject


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="pyfaas is not installed in this interpreter's env")
def test_console_script_and_python_m_pyfaas_print_the_same_version(tmp_path: Path) -> None:
    script = _run([str(CONSOLE_SCRIPT), "--version"], tmp_path)
    module = _run([sys.executable, "-m", "pyfaas", "--version"], tmp_path)
    assert (script.returncode, script.stdout) == (0, f"pyfaas {pyfaas.__version__}\n"), script.stderr
    assert (module.returncode, module.stdout) == (0, script.stdout), module.stderr


def test_python_m_pyfaas_runs_the_cli(tmp_path: Path) -> None:
    result = _run([sys.executable, "-m", "pyfaas", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: pyfaas ")
    assert {"deploy", "invoke", "new", "up", "down"} <= {
        line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()
    }
    unknown = _run([sys.executable, "-m", "pyfaas", "no-such-command"], tmp_path)
    assert unknown.returncode == 2 and "No such command" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_system_info_reports_the_version_the_cli_prints(platform: Platform, tmp_path: Path) -> None:
    info = httpx.get(f"{platform.url}/system/info", timeout=10).json()
    assert info["version"]["release"] == pyfaas.__version__
    assert info["provider"]["version"]["release"] == pyfaas.__version__
    cli = _run([sys.executable, "-m", "pyfaas", "version", "-g", platform.url], tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.count(pyfaas.__version__) >= 2, cli.stdout  # the CLI's line and the gateway's
