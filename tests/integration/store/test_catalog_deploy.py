"""A team's catalog published as static files, beside the bundled store, deployed from in local mode.

A real gateway (child process, local provider, basic auth) and a real static file server on loopback: the
catalog made by ``pyfaas store init`` gets a function whose handler is two files and that reads a secret, one
whose handler lives in a git repository (cloned from a local repository: nothing leaves the machine) and an
image-only one. ``store deploy`` fetches the listed files (or clones), deploys, and each function answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfaas.cli.credentials import BasicCredentials, CredentialStore
from tests.support.cli import CREDENTIALS, CliResult, Platform, cli_env, run_cli, running_platform
from tests.support.static_server import StaticServer, static_server
from tests.support.store_catalog import team_catalog

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    yield from running_platform(auth=True)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[StaticServer]:
    www = tmp_path / "www"
    team_catalog(www / "team", tmp_path)
    with static_server(www) as server:
        yield server


def test_deploy_from_a_catalog_served_as_static_files_then_invoke(
    platform: Platform, served: StaticServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    CredentialStore(home / ".openfaas").save(platform.url, BasicCredentials(*CREDENTIALS))
    env = cli_env(
        home, OPENFAAS_URL=platform.url, PYFAAS_STORE_SOURCES=f"team={served.url}/team/catalog.json, pyfaas"
    )

    def pyfaas(*args: str, stdin: bytes = b"") -> CliResult:
        result = run_cli(args, env=env, cwd=tmp_path, stdin=stdin)
        assert result.code == 0, result.stderr
        return result

    assert run_cli(["store", "validate", str(tmp_path / "www" / "team")], env=env, cwd=tmp_path).code == 0
    listed = [row.split()[:4] for row in pyfaas("store", "list").stdout.splitlines()[1:]]
    assert listed[:5] == [
        ["hello", "team", "yes", "no"],
        ["greeter", "team", "yes", "no"],
        ["shout", "team", "yes", "no"],
        ["numbered", "team", "yes", "no"],
        ["scanner", "team", "no", "yes"],
    ]
    assert [row[1] for row in listed[5:]] == ["pyfaas"] * 5

    # the scaffolded example: its one listed file is fetched over HTTP into the CLI's cache
    deployed = json.loads(pyfaas("store", "deploy", "hello", "--name", "team-hello", "--json").stdout)
    assert deployed["store"] == "team" and deployed["local"] is True
    assert pyfaas("invoke", "team-hello", stdin=b"Ada").stdout == "hello, Ada\n"
    handler = Path(json.loads(pyfaas("describe", "team-hello", "--json").stdout)["envVars"]["handler"])
    assert handler.is_relative_to(home / ".cache" / "pyfaas" / "store") and (handler / "handler.py").is_file()

    # a function that reads a secret: refused (one line) until the secret exists
    missing = run_cli(["store", "deploy", "greeter"], env=env, cwd=tmp_path)
    missing.assert_one_error("greeter needs the secret greeting", "missing in")
    pyfaas("secret", "create", "greeting", "--from-literal", "Howdy")
    pyfaas("store", "deploy", "greeter", "--store", "team")
    assert pyfaas("invoke", "greeter", stdin=b"Bob").stdout == "Howdy, Bob!"

    # a handler in a git repository (cloned at its tag), and an image-only entry that says why not
    pyfaas("store", "deploy", "shout")
    assert pyfaas("invoke", "shout", stdin=b"quiet please").stdout == "QUIET PLEASE"
    # a template other than Python's: built by local mode (bash-streaming needs only bash)
    pyfaas("store", "deploy", "numbered")
    assert pyfaas("invoke", "numbered", stdin=b"first\nsecond\n").stdout == "1: first\n2: second\n"
    refused = run_cli(["store", "deploy", "scanner"], env=env, cwd=tmp_path)
    refused.assert_one_error("scanner (store team) cannot run in local mode", "image only")
    # an unknown entry names the stores it looked in
    run_cli(["store", "deploy", "absent"], env=env, cwd=tmp_path).assert_one_error(
        "in no store (team, pyfaas)"
    )

    # the catalog changed on the server: the next deploy gets the new handler (revalidated by ETag)
    team = tmp_path / "www" / "team" / "functions" / "hello" / "handler.py"
    team.write_text(team.read_text().replace("hello, ", "hi again, "))
    pyfaas("store", "deploy", "hello", "--name", "team-hello")
    assert pyfaas("invoke", "team-hello", stdin=b"Ada").stdout == "hi again, Ada\n"
    assert [seen.status for seen in served.requests_for("/team/functions/hello/handler.py")] == [200, 200]
    assert 304 in {seen.status for seen in served.requests_for("/team/catalog.json")}
    pyfaas("remove", "team-hello", "greeter", "shout", "numbered")
