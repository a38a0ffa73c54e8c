"""The bundled data files (``alerts/``, ``examples/``, ``templates/``) and package files (portal assets, store
catalog) are found with importlib.resources, and a bad alerts folder is one line from the monitoring launcher.
The same look-ups inside an installed wheel are covered by ``test_wheel.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyfaas.cli.local.functions import BUNDLED_EXAMPLES
from pyfaas.cli.local.monitoring import DEFAULT_ALERTS_DIR, find_binaries
from pyfaas.core.resources import bundled, package_path
from pyfaas.gateway.ui import ASSETS_DIR
from pyfaas.store.catalog import BUNDLED_CATALOG

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["alerts", "examples", "templates"])
def test_each_bundle_is_the_top_level_folder_linked_into_the_package(name: str) -> None:
    link = REPO_ROOT / "runtime" / "_bundled" / name
    assert link.is_symlink() and link.resolve() == REPO_ROOT / name
    assert bundled(name) == REPO_ROOT / name  # type: ignore[arg-type]


def test_the_code_reads_the_bundles_and_package_files_through_resources() -> None:
    assert bundled("alerts") == DEFAULT_ALERTS_DIR
    alert_files = {"rules.yml", "prometheus.yml", "alertmanager.yml"}
    assert alert_files <= {path.name for path in DEFAULT_ALERTS_DIR.iterdir()}
    assert bundled("examples") == BUNDLED_EXAMPLES and (BUNDLED_EXAMPLES / "stack.yml").is_file()
    assert (bundled("templates") / "python3-http" / "template.yml").is_file()
    assert package_path("pyfaas.gateway.ui", "assets") == ASSETS_DIR and (ASSETS_DIR / "index.html").is_file()
    assert package_path("pyfaas.store", "catalog.json") == BUNDLED_CATALOG and BUNDLED_CATALOG.is_file()


@pytest.mark.prometheus
@pytest.mark.skipif(find_binaries() is None, reason="prometheus / prometheus-alertmanager are not installed")
def test_missing_alert_files_are_one_line_from_the_monitoring_launcher(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "alerts_dir": str(tmp_path / "no-alerts"),
        "monitoring_dir": str(tmp_path / "monitoring"),
        "prometheus_port": "0",
        "alertmanager_port": "0",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pyfaas.cli.local.monitoring"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "pyfaas-monitoring: No such file or directory" in result.stderr and "no-alerts" in result.stderr
    assert "not installed" not in result.stderr
