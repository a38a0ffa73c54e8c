"""The remaining commands and the error paths a live gateway answers: functions.py deploys, namespaces,
filters, logs following, dead letters and redrive, 401/404 answers — each failure one line, non-zero."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pyfaas.cli.credentials import BasicCredentials, CredentialStore
from tests.support.cli import REPO_ROOT, CliResult, Platform, cli_env, run_cli
from tests.support.polling import wait_value

pytestmark = pytest.mark.timeout(90)

FUNCTIONS_PY = """\
from pyfaas.core.definitions import function

hello = function("py-hello", image="ex/hello:1", handler="./hello", lang="python3-http",
                 environment={"who": "functions.py"})
failing = function("py-fail", image="ex/fail:1", handler="./fail", lang="python3-http")
"""


def _write_handlers(root: Path) -> None:
    (root / "hello").mkdir()
    (root / "hello" / "handler.py").write_text(
        "import os\n\ndef handle(event, context):\n    return 'hello from ' + os.environ['who']\n"
    )
    (root / "fail").mkdir()
    (root / "fail" / "handler.py").write_text(
        "def handle(event, context):\n    return {'statusCode': 500, 'body': 'boom'}\n"
    )


def test_functions_py_filters_logs_and_dead_letters(
    tmp_path: Path, platform: Platform, logged_in: dict[str, str]
) -> None:
    _write_handlers(tmp_path)
    (tmp_path / "functions.py").write_text(FUNCTIONS_PY)

    def pyfaas(*args: str, stdin: bytes = b"") -> CliResult:
        return run_cli(args, env=logged_in, cwd=tmp_path, stdin=stdin)

    only = pyfaas("deploy", "-f", "functions.py", "--filter", "py-h*", "--json")
    assert only.code == 0, only.stderr
    assert [item["name"] for item in json.loads(only.stdout)] == ["py-hello"]
    pyfaas("deploy", "-f", "functions.py", "--filter", "nothing*").assert_one_error("no function", "py-hello")
    assert pyfaas("deploy", "-f", "functions.py", "--regex", "fail$").code == 0
    again = pyfaas("deploy", "-f", "functions.py")  # both exist now: PUT updates them
    assert again.code == 0 and again.stdout.count("Updated") == 2, again.stdout

    # follow the logs in a real process, then produce a line
    follower = subprocess.Popen(
        [sys.executable, "-m", "pyfaas.cli", "logs", "py-hello", "--since", "1h", "--name"],
        env={**logged_in, "PYTHONPATH": str(REPO_ROOT)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert pyfaas("invoke", "py-hello").stdout == "hello from functions.py"
        assert follower.stdout is not None
        deadline = time.monotonic() + 20
        seen = ""
        while "POST / - 200" not in seen and time.monotonic() < deadline:
            seen += follower.stdout.readline().decode()
        assert "py-hello" in seen and "POST / - 200" in seen, seen
        assert follower.poll() is None  # still following
    finally:
        follower.kill()
        follower.wait(5)
    limited = pyfaas("logs", "py-hello", "--tail=false", "--lines", "1", "-o", "json")
    assert limited.code == 0 and len(limited.stdout.splitlines()) == 1
    assert json.loads(limited.stdout)["name"] == "py-hello"

    pyfaas("invoke", "py-fail").assert_one_error("py-fail answered 500", "boom")
    submitted = pyfaas("invoke", "py-fail", "--async")
    call_id = submitted.stdout.strip()
    wait_value(
        lambda: json.loads(pyfaas("async", "status", call_id, "--json").stdout).get("state", ""),
        lambda state: state == "dead-lettered",
        30,
        interval=0.2,
        what="the failing call dead-lettered",
    )
    letters = pyfaas("async", "dead-letters", "--function", "py-fail")
    assert letters.code == 0 and call_id in letters.stdout and "500" in letters.stdout
    calls_before = json.loads(pyfaas("describe", "py-fail", "--json").stdout).get("invocationCount", 0)
    redriven = pyfaas("async", "redrive", call_id)
    assert redriven.code == 0 and f"Requeued {call_id}" in redriven.stdout

    # requeued with fresh attempts: it runs twice more (worker max_retry_attempts=2), then dead-letters again
    def progress() -> tuple[dict[str, Any], int]:
        record = json.loads(pyfaas("async", "status", call_id, "--json").stdout)
        return record, json.loads(pyfaas("describe", "py-fail", "--json").stdout).get("invocationCount", 0)

    record, calls_after = wait_value(
        progress,
        lambda seen: seen[0].get("state") == "dead-lettered" and seen[1] >= calls_before + 2,
        30,
        interval=0.2,
        what="the redriven call dead-lettered again after two runs",
    )
    assert calls_after == calls_before + 2 and record["attempts"] == 2, (record, calls_before, calls_after)
    pyfaas("async", "redrive", "no-such-call").assert_one_error("no dead letter")
    pyfaas("async", "status", "no-such-call").assert_one_error("no async call", "call id")

    assert pyfaas("remove", "-f", "functions.py").code == 0
    pyfaas("remove", "py-hello").assert_one_error("not found", "pyfaas list")


def test_gateway_answers_become_one_line_errors(
    tmp_path: Path, platform: Platform, logged_in: dict[str, str]
) -> None:
    def pyfaas(*args: str, env: dict[str, str] = logged_in) -> CliResult:
        return run_cli(args, env=env, cwd=tmp_path)

    assert pyfaas("namespaces").stdout.split() == ["openfaas-fn"]
    pyfaas("describe", "ghost").assert_one_error("function 'ghost' not found", "pyfaas list")
    # the gateway's 404 names the function, not the field it came from
    missing = pyfaas("invoke", "ghost").assert_one_error("function 'ghost' not found", "pyfaas list")
    assert "(field" not in missing, missing
    pyfaas("scale", "ghost", "--replicas", "1").assert_one_error("not found")
    pyfaas("logs", "ghost", "--tail=false").assert_one_error("not found")
    pyfaas("secret", "update", "ghost", "--from-literal", "x").assert_one_error("not found", "secret create")
    pyfaas(
        "deploy", "--name", "ns-fn", "--image", "x:1", "--fprocess", "cat", "-n", "no-such-ns"
    ).assert_one_error("HTTP 400", "no-such-ns", "does not exist")
    pyfaas("deploy", "--name", "img-only", "--image", "nginx:1").assert_one_error(
        "local mode runs", "fprocess"
    )

    anonymous = cli_env(tmp_path / "anon", OPENFAAS_URL=platform.url)
    pyfaas("list", env=anonymous).assert_one_error(
        "needs credentials (401)", f"pyfaas login -g {platform.url}"
    )
    stale = tmp_path / "stale"
    CredentialStore(stale / ".openfaas").save(platform.url, BasicCredentials("admin", "wrong"))
    pyfaas("secret", "list", env=cli_env(stale, OPENFAAS_URL=platform.url)).assert_one_error(
        "rejected the saved credentials", "pyfaas login"
    )
    version = pyfaas("version", "--json")
    assert json.loads(version.stdout)["gateway"]["info"]["provider"]["provider"] == "pyfaas-local"
