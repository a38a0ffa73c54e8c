"""This repository in OpenFaaS's template-repository layout: ``template`` is a symlink to ``templates``
(faas-cli and ``pyfaas template pull`` read ``template/<name>/`` at a repository's root).

What is committed is checked: ``git archive HEAD`` of the two entries becomes a local git repository (no
network), which ``pyfaas template pull`` clones; every built-in template arrives as real files.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support.cli import cli_env, run_cli

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[3]
TEMPLATES = sorted(p.name for p in (REPO / "templates").iterdir() if (p / "template.yml").is_file())


def _git(folder: Path, *args: str) -> bytes:
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(folder),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    return subprocess.run(
        ["git", *args], cwd=folder, env=environ, check=True, capture_output=True, timeout=60
    ).stdout


def test_template_is_a_committed_symlink_to_templates(tmp_path: Path) -> None:
    archive = _git(REPO, "archive", "--format=tar", "HEAD", "template", "templates")
    copy = tmp_path / "copy"
    copy.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        link = tar.getmember("template")
        assert link.issym() and link.linkname == "templates"
        tar.extractall(copy, filter="tar")
    _git(copy, "init", "--quiet")
    _git(copy, "add", "-A")
    _git(copy, "commit", "--quiet", "-m", "templates")

    project = tmp_path / "project"
    project.mkdir()
    pulled = run_cli(["template", "pull", f"file://{copy}"], env=cli_env(tmp_path / "home"), cwd=project)
    assert pulled.code == 0, pulled.stderr
    fetched = sorted(p.name for p in (project / "template").iterdir())
    assert fetched == TEMPLATES
    for name in fetched:
        folder = project / "template" / name
        assert not folder.is_symlink() and (folder / "template.yml").is_file()
