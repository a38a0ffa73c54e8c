"""faas-cli's config.yml: location rules, file format and permissions, round trip through login/logout."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from pyfaas.cli.credentials import BasicCredentials, CredentialStore, config_dir
from tests.support.cli import cli_env, run_cli


def test_config_dir_rules(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    assert config_dir(override="", ci=False, home=home, cwd=cwd) == home / ".openfaas"
    assert config_dir(override="", ci=True, home=home, cwd=cwd) == cwd / ".openfaas"
    assert config_dir(override="/etc/of", ci=True, home=home, cwd=cwd) == Path("/etc/of")
    assert config_dir(override="rel", ci=False, home=home, cwd=cwd) == cwd / "rel"


def test_save_lookup_remove_round_trip(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / ".openfaas")
    assert store.lookup("http://127.0.0.1:8080") is None
    store.save("http://127.0.0.1:8080", BasicCredentials("admin", "pa:ss"))
    store.save("http://other:8080", BasicCredentials("bob", "x"))
    store.save("http://127.0.0.1:8080", BasicCredentials("admin", "new"))
    assert store.lookup("http://127.0.0.1:8080") == BasicCredentials("admin", "new")
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.directory.stat().st_mode & 0o777 == 0o700
    data = yaml.safe_load(store.path.read_text())
    assert data["auths"][0] == {
        "gateway": "http://127.0.0.1:8080",
        "auth": "basic",
        "token": base64.b64encode(b"admin:new").decode(),
    }
    assert len(data["auths"]) == 2
    assert store.remove("http://127.0.0.1:8080") is True
    assert store.remove("http://127.0.0.1:8080") is False
    assert store.lookup("http://other:8080") == BasicCredentials("bob", "x")


def test_reads_a_file_written_by_faas_cli(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text(
        'authurl: ""\nauths:\n- gateway: https://gw.example\n  auth: basic\n  token: YWRtaW46c2VjcmV0\n'
        "  options: []\n- gateway: https://oauth.example\n  auth: oauth2\n  token: abc\n"
    )
    store = CredentialStore(tmp_path)
    assert store.lookup("https://gw.example") == BasicCredentials("admin", "secret")
    assert store.lookup("https://oauth.example") is None  # not basic auth: not ours to use


@pytest.mark.parametrize("content", ["auths: [\n", "auths: 3\n"])
def test_broken_config_is_one_line_error(tmp_path: Path, content: str) -> None:
    home = tmp_path / "home"
    (home / ".openfaas").mkdir(parents=True)
    (home / ".openfaas" / "config.yml").write_text(content)
    result = run_cli(["list", "-g", "http://127.0.0.1:1"], env=cli_env(home), cwd=tmp_path)
    result.assert_one_error("config.yml", "pyfaas login")


def test_logout_without_credentials_fails(tmp_path: Path) -> None:
    result = run_cli(["logout", "-g", "http://gw:8080"], env=cli_env(tmp_path), cwd=tmp_path)
    result.assert_one_error("no saved credentials for http://gw:8080")


def test_ci_mode_keeps_config_in_working_directory(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", CI="true")
    store_dir = tmp_path / ".openfaas"
    CredentialStore(store_dir, ci=True).save("http://gw:8080", BasicCredentials("admin", "x"))
    result = run_cli(["logout", "-g", "http://gw:8080"], env=env, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "auths: []" in (store_dir / "config.yml").read_text()
    override = run_cli(
        ["logout", "-g", "http://gw:8080"], env={**env, "OPENFAAS_CONFIG": str(tmp_path / "x")}, cwd=tmp_path
    )
    override.assert_one_error(str(tmp_path / "x" / "config.yml"))
