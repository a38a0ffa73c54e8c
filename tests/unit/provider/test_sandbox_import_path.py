"""The sandbox shows what the zygote's interpreter imports from, beyond its prefixes: a wheel installed in a
virtualenv whose dependencies come from another folder through a ``.pth`` path line (tests/packaging)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pyfaas.provider.local.sandbox import interpreter_paths


def test_a_pth_path_line_outside_the_prefixes_is_on_the_import_path(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    deps = tmp_path / "elsewhere" / "site-packages"
    deps.mkdir(parents=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    (Path(site) / "deps.pth").write_text(f"{deps}\n")

    found = interpreter_paths(str(python), {"PATH": "/usr/bin:/bin"})

    assert deps in found and Path(site) in found
    assert all(p.is_absolute() and p != Path("/") for p in found)  # never the working directory


def test_an_interpreter_that_does_not_run_gives_nothing(tmp_path: Path) -> None:
    assert interpreter_paths(str(tmp_path / "no-python"), {}) == []
