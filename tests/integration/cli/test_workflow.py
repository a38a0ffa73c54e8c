"""The CLI's main flow as a user runs it: ``python -m pyfaas.cli`` child processes against a real platform
(gateway + local provider + NATS + queue-worker, all child processes, basic auth on).

login → deploy -f stack.yml → list → describe → invoke (sync, async, async status) → logs → scale →
secret create/list/update/remove → remove; plus the 401 path before login.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.cli import CREDENTIALS, CliResult, Platform, cli_env, run_cli, run_pyfaas
from tests.support.polling import wait_value

pytestmark = pytest.mark.timeout(120)

MINE = {"count", "greet"}
"""This test's functions (other tests of the package deploy theirs on the same platform)."""

STACK = """\
version: 1.0
provider:
  name: openfaas
  gateway: ${GATEWAY_URL}
functions:
  greet:
    lang: python3-http
    handler: ./greet
    image: example/greet:0.1
    environment:
      greeting: ${GREETING:-Hello}
    labels:
      com.openfaas.scale.max: "3"
  count:
    lang: dockerfile
    image: example/count:0.1
    fprocess: wc -c
"""

HANDLER = """\
import os


def handle(event, context):
    name = event.body.decode() or "world"
    return {
        "statusCode": 200,
        "body": {"message": f"{os.environ.get('greeting', '?')}, {name}", "query": dict(event.query),
                 "method": event.method, "x": event.headers.get("X-Test", "")},
    }
"""


@pytest.fixture
def project(tmp_path: Path, platform: Platform) -> tuple[Path, dict[str, str]]:
    (tmp_path / "greet").mkdir()
    (tmp_path / "greet" / "handler.py").write_text(HANDLER)
    (tmp_path / "stack.yml").write_text(STACK)
    env = cli_env(tmp_path / "home", GATEWAY_URL=platform.url, GREETING="Hi")
    return tmp_path, env


def _ok(result: CliResult) -> CliResult:
    assert result.code == 0, f"exit {result.code}: {result.stderr}"
    return result


def test_main_flow_as_subprocesses(project: tuple[Path, dict[str, str]], platform: Platform) -> None:
    cwd, env = project

    def pyfaas(*args: str, stdin: bytes = b"") -> CliResult:
        """A real ``python -m pyfaas.cli`` process (the main steps)."""
        return run_pyfaas(args, env=env, cwd=cwd, stdin=stdin)

    def quick(*args: str, stdin: bytes = b"") -> CliResult:
        """The same commands in-process (the checks around the main steps: processes start slowly here)."""
        return run_cli(args, env=env, cwd=cwd, stdin=stdin)

    # before login: one line, the login hint, non-zero
    pyfaas("list").assert_one_error("401", "pyfaas login")

    wrong = quick("login", "--password-stdin", stdin=b"wrong\n")
    wrong.assert_one_error("rejected", "admin")
    _ok(pyfaas("login", "-u", CREDENTIALS[0], "--password-stdin", stdin=CREDENTIALS[1].encode() + b"\n"))
    config = cwd / "home" / ".openfaas" / "config.yml"
    assert config.stat().st_mode & 0o777 == 0o600
    assert platform.url in config.read_text()

    deployed = _ok(pyfaas("deploy"))  # default stack file, gateway from provider.gateway
    assert "greet" in deployed.stdout and "count" in deployed.stdout

    # The platform is shared by the package's tests (each with its own names): only this test's are checked.
    listed = [item for item in json.loads(_ok(pyfaas("list", "--json")).stdout) if item["name"] in MINE]
    assert sorted(item["name"] for item in listed) == ["count", "greet"]
    greet = next(item for item in listed if item["name"] == "greet")
    assert greet["envVars"]["mode"] == "python"
    assert greet["envVars"]["handler"] == str((cwd / "greet").resolve())
    assert greet["envVars"]["greeting"] == "Hi"  # ${GREETING:-Hello} substituted from the environment
    count = next(item for item in listed if item["name"] == "count")
    assert count["envVars"]["mode"] == "fork"
    table = _ok(quick("list")).stdout.splitlines()
    assert table[0].split() == ["Function", "Invocations", "Replicas"]

    described = _ok(quick("describe", "greet")).stdout
    assert "com.openfaas.scale.max=3" in described
    assert f"{platform.url}/function/greet" in described

    answer = _ok(pyfaas("invoke", "greet", "--query", "a=1", "-H", "X-Test=yes", stdin=b"pyfaas"))
    body = json.loads(answer.stdout)
    assert body == {"message": "Hi, pyfaas", "query": {"a": "1"}, "method": "POST", "x": "yes"}
    assert _ok(quick("invoke", "count", stdin=b"12345")).stdout.strip() == "5"

    submitted = _ok(pyfaas("invoke", "greet", "--async", stdin=b"later"))
    call_id = submitted.stdout.strip()
    assert call_id and "submitted asynchronously" in submitted.stderr
    record = wait_value(
        lambda: json.loads(_ok(quick("async", "status", call_id, "--json")).stdout),
        lambda found: found.get("state") == "succeeded",
        30,
        interval=0.2,
        what="the async call to succeed",
    )
    assert record.get("lastStatus") == 200

    logs = _ok(pyfaas("logs", "greet", "--tail=false"))
    assert "POST / - 200" in logs.stdout, logs.stdout

    _ok(pyfaas("scale", "greet", "--replicas", "2"))
    status = wait_value(
        lambda: json.loads(_ok(quick("describe", "greet", "--json")).stdout),
        lambda found: found.get("availableReplicas") == 2,
        30,
        interval=0.2,
        what="two available replicas",
    )
    assert status.get("replicas") == 2
    clamped = _ok(quick("scale", "greet", "--replicas", "9"))
    assert "scale.max" in clamped.stderr and "3 replicas" in clamped.stdout

    _ok(quick("secret", "create", "api-key", "--from-literal", "s3cret"))
    quick("secret", "create", "api-key", "--from-literal", "again").assert_one_error(
        "already exists", "update"
    )
    (cwd / "value.bin").write_bytes(b"\xff\x00binary")
    _ok(quick("secret", "update", "api-key", "--from-file", "value.bin"))
    assert "api-key" in [s["name"] for s in json.loads(_ok(quick("secret", "list", "--json")).stdout)]
    _ok(quick("secret", "remove", "api-key"))
    quick("secret", "remove", "api-key").assert_one_error("not found")

    _ok(pyfaas("remove", "greet", "count"))
    assert not [item for item in json.loads(_ok(quick("list", "--json")).stdout) if item["name"] in MINE]
    quick("invoke", "greet", stdin=b"x").assert_one_error("not found", "pyfaas list")

    _ok(quick("logout"))
    quick("logout").assert_one_error("no saved credentials")
    with httpx.Client() as client:  # the gateway itself still wants credentials
        assert client.get(f"{platform.url}/system/functions").status_code == 401
