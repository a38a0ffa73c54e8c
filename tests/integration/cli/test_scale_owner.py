"""``pyfaas scale`` says who owns the replica count, as the gateway's answer tells it: nothing more for a
function no autoscaler owns, a warning for one whose labels give it to target tracking."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import CliResult, Platform, run_cli

pytestmark = pytest.mark.timeout(90)


def test_scale_reports_the_owner_of_the_replica_count(
    tmp_path: Path, platform: Platform, logged_in: dict[str, str]
) -> None:
    handler = tmp_path / "owned"
    handler.mkdir()
    (handler / "handler.py").write_text("def handle(event, context):\n    return 'ok'\n")

    def pyfaas(*args: str) -> CliResult:
        result = run_cli(args, env=logged_in, cwd=tmp_path)
        assert result.code == 0, result.stderr
        return result

    pyfaas(
        "deploy", "--name", "own-manual", "--handler", str(handler), "--label", "com.openfaas.scale.factor=0"
    )
    pyfaas(
        "deploy", "--name", "own-tracked", "--handler", str(handler), "--label", "com.openfaas.scale.type=rps"
    )
    manual = pyfaas("scale", "own-manual", "--replicas", "2")
    assert "Scaled own-manual to 2 replicas" in manual.stdout
    assert "No autoscaler owns the replica count of own-manual: it stays at 2." in manual.stderr
    assert "Warning" not in manual.stderr
    tracked = pyfaas("scale", "own-tracked", "--replicas", "2")
    assert "Scaled own-tracked to 2 replicas" in tracked.stdout
    assert "Warning: the replica count of own-tracked is owned by an autoscaler" in tracked.stderr
    assert "com.openfaas.scale.type=rps" in tracked.stderr and "does not stay" in tracked.stderr
    for name in ("own-manual", "own-tracked"):
        pyfaas("remove", name)
