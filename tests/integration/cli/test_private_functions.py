"""``pyfaas key`` and ``pyfaas invoke --function-key`` against the package's real platform (gateway process
with basic auth, functions in their sandboxes): a private function answers only with its key or a token,
and the function sees neither that credential nor the CLI's saved admin credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cli import CREDENTIALS, Platform, run_cli
from tests.support.polling import wait_value

pytestmark = pytest.mark.timeout(120)

HANDLER = """
import json

def handle(event, context):
    return {"statusCode": 200, "body": json.dumps({"authorization": event.headers.get("Authorization")})}
"""


@pytest.fixture
def removed_after(platform: Platform) -> Iterator[None]:
    """The platform is shared by the package's tests: private-cli goes away after this one, pass or fail."""
    yield
    with httpx.Client(base_url=platform.url, auth=CREDENTIALS, timeout=30) as admin:
        removed = admin.request("DELETE", "/system/functions", json={"functionName": "private-cli"})
        assert removed.status_code < 300 or removed.status_code == 404, removed.text


@pytest.mark.usefixtures("removed_after")
def test_cli_invokes_a_private_function_with_a_key_or_token(
    tmp_path: Path, platform: Platform, logged_in: dict[str, str]
) -> None:
    folder = tmp_path / "private-cli"
    folder.mkdir()
    (folder / "handler.py").write_text(HANDLER)
    spec = {
        "service": "private-cli",
        "image": "local",
        "envVars": {"mode": "python", "handler": str(folder)},
        "annotations": {"com.pyfaas.private": "true"},
    }
    with httpx.Client(base_url=platform.url, auth=CREDENTIALS, timeout=30) as admin:
        assert admin.post("/system/functions", json=spec).status_code == 202
        wait_value(
            lambda: admin.get("/system/function/private-cli").json().get("availableReplicas"),
            lambda available: available == 1,
            60,
            what="private-cli to become available",
        )

    refused = run_cli(["invoke", "private-cli"], env=logged_in, cwd=tmp_path, stdin=b"x")
    assert refused.code != 0 and "401" in refused.stderr  # the saved admin login is not a function key

    created = run_cli(
        ["key", "create", "private-cli", "--label", "ci", "--json"], env=logged_in, cwd=tmp_path
    )
    assert created.code == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    listed = run_cli(["key", "list", "private-cli", "--json"], env=logged_in, cwd=tmp_path)
    assert [k["label"] for k in json.loads(listed.stdout)] == ["ci"] and key not in listed.stdout

    answered = run_cli(
        ["invoke", "private-cli", "--function-key", key], env=logged_in, cwd=tmp_path, stdin=b"x"
    )
    assert answered.code == 0, answered.stderr
    assert json.loads(answered.stdout) == {"authorization": None}  # neither the key nor the admin login

    minted = run_cli(["key", "token", "private-cli", "--ttl", "60"], env=logged_in, cwd=tmp_path)
    token = minted.stdout.strip().splitlines()[-1]
    with_token = run_cli(
        ["invoke", "private-cli"], env={**logged_in, "PYFAAS_FUNCTION_KEY": token}, cwd=tmp_path, stdin=b"x"
    )
    assert with_token.code == 0, with_token.stderr

    key_id = json.loads(created.stdout)["id"]
    assert run_cli(["key", "revoke", "private-cli", key_id], env=logged_in, cwd=tmp_path).code == 0
    revoked = run_cli(
        ["invoke", "private-cli", "--function-key", key], env=logged_in, cwd=tmp_path, stdin=b"x"
    )
    assert revoked.code != 0 and "401" in revoked.stderr
