"""``store deploy`` in local mode: every bundled function runs from its handler folder and answers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from tests.support.cli import CliResult, Platform, run_cli

pytestmark = pytest.mark.timeout(90)


def test_store_functions_deploy_and_answer(
    tmp_path: Path, platform: Platform, logged_in: dict[str, str]
) -> None:
    def pyfaas(*args: str, stdin: bytes = b"") -> CliResult:
        result = run_cli(args, env=logged_in, cwd=tmp_path, stdin=stdin)
        assert result.code == 0, result.stderr
        return result

    names = {
        "echo": "st-echo",
        "markdown": "st-md",
        "sha256": "st-sha",
        "json-yaml": "st-jy",
        "sleep": "st-sleep",
    }
    for entry, name in names.items():
        deployed = json.loads(pyfaas("store", "deploy", entry, "--name", name, "--json").stdout)
        assert deployed["local"] is True and deployed["name"] == name
    status = json.loads(pyfaas("describe", "st-md", "--json").stdout)
    assert status["envVars"]["mode"] == "python" and status["envVars"]["handler"].endswith(
        "store/functions/markdown"
    )
    assert status["labels"]["com.openfaas.ui.ext"] == "html"

    echoed = pyfaas("invoke", "st-echo", "--content-type", "application/x-test", stdin=b"\x00raw\xff")
    assert echoed.stdout_bytes == b"\x00raw\xff"
    shown = pyfaas("invoke", "st-echo", "--json", "--content-type", "application/x-test", stdin=b"x")
    assert json.loads(shown.stdout)["headers"]["content-type"] == "application/x-test"
    assert "<h2>Hi <em>there</em></h2>" in pyfaas("invoke", "st-md", stdin=b"## Hi *there*").stdout
    assert pyfaas("invoke", "st-sha", stdin=b"pyfaas").stdout.strip() == hashlib.sha256(b"pyfaas").hexdigest()
    converted = pyfaas("invoke", "st-jy", "--content-type", "application/json", stdin=b'{"a": [1, 2]}').stdout
    assert yaml.safe_load(converted) == {"a": [1, 2]}
    back = pyfaas("invoke", "st-jy", "--query", "to=json", stdin=b"a: [1, 2]\n").stdout
    assert json.loads(back) == {"a": [1, 2]}
    slept = json.loads(pyfaas("invoke", "st-sleep", "--query", "seconds=0.05").stdout)
    assert slept["requested"] == 0.05 and slept["slept"] >= 0.05

    failed = run_cli(["invoke", "st-sleep", "--query", "seconds=abc"], env=logged_in, cwd=tmp_path)
    failed.assert_one_error("st-sleep answered 400", "seconds must be a number")

    listed = pyfaas("store", "list").stdout.splitlines()
    assert listed[0].split()[:3] == ["Function", "Store", "Local"] and len(listed) == 6
    pyfaas("remove", *names.values())
