"""``pyfaas deploy`` waits for a ready replica and reports a handler that crashes at start with its error
(non-zero exit), for a new function and for an update whose new replicas crash while the old ones serve;
``describe`` and ``invoke`` say the same; ``--no-wait`` skips the wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import CliResult, Platform, run_cli

pytestmark = pytest.mark.timeout(120)

GOOD = "def handle(event, context):\n    return 'v1'\n"
BROKEN = "def handle(event, context)\n    return 'never'\n"


def test_deploy_waits_and_reports_a_replica_that_crashes_at_start(
    tmp_path: Path, platform: Platform, logged_in: dict[str, str]
) -> None:
    handler = tmp_path / "crashy"
    handler.mkdir()
    code = handler / "handler.py"

    def pyfaas(*args: str) -> CliResult:
        return run_cli(args, env=logged_in, cwd=tmp_path)

    def deploy(*extra: str) -> CliResult:
        return pyfaas("deploy", "--name", "crashy", "--handler", str(handler), *extra)

    code.write_text(BROKEN)
    failed = deploy()
    assert failed.code != 0, failed.stdout
    assert "Error: crashy does not start: exited with code 1 before becoming ready" in failed.stderr
    assert "SyntaxError: expected ':'" in failed.stderr and "def handle(event, context)" in failed.stderr
    assert "Deployed" not in failed.stdout
    described = pyfaas("describe", "crashy")
    assert "Crashing at start" in described.stdout
    assert "Last Failure:" in described.stdout and "SyntaxError: expected ':'" in described.stdout
    invoked = pyfaas("invoke", "crashy")
    assert invoked.code != 0 and "SyntaxError: expected ':'" in invoked.stderr, invoked.stderr

    code.write_text(GOOD)
    fixed = deploy()
    assert fixed.code == 0, fixed.stderr
    assert "Updated crashy" in fixed.stdout
    assert pyfaas("invoke", "crashy").stdout.strip() == "v1"

    code.write_text(BROKEN)  # an update whose replicas crash: the old replica keeps serving meanwhile
    broken_update = deploy()
    assert broken_update.code != 0 and "crashy does not start" in broken_update.stderr
    assert "Ready (new replicas crash at start)" in pyfaas("describe", "crashy").stdout
    assert pyfaas("invoke", "crashy").stdout.strip() == "v1"

    skipped = deploy("--no-wait")
    assert skipped.code == 0 and "Updated crashy" in skipped.stdout, skipped.stderr
    assert pyfaas("remove", "crashy").code == 0
