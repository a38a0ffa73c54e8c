"""The store catalog: the bundled one, replacement by file or URL, and entry → deployment."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pyfaas.store.catalog import BUNDLED_CATALOG, CatalogError, load_catalog
from tests.support.cli import cli_env, run_cli


def test_bundled_catalog_has_runnable_entries() -> None:
    catalog = load_catalog()
    assert catalog.names() == ["echo", "markdown", "sha256", "json-yaml", "sleep"]
    for entry in catalog.functions:
        assert entry.title and entry.description and entry.images["x86_64"] and entry.repo_url
        assert entry.handler_path is not None and (entry.handler_path / "handler.py").is_file()
        assert entry.runs_locally
    # the bundled file stays plain OpenFaaS store JSON (faas-cli ignores the two pyfaas keys)
    raw = json.loads(BUNDLED_CATALOG.read_text())
    assert raw["version"] == "0.2.0" and set(raw["functions"][0]) >= {"title", "name", "images", "fprocess"}


def test_entry_deployment_local_and_image() -> None:
    sleep = load_catalog().find("sleep")
    assert sleep is not None
    local = sleep.deployment(local=True, name="nap", namespace="team")
    assert local.service == "nap" and local.namespace == "team"
    assert local.envVars is not None and local.envVars["mode"] == "python"
    assert local.envVars["handler"] == str(sleep.handler_path) and local.envVars["MAX_SECONDS"] == "60"
    remote = sleep.deployment(local=False, platform="arm64")
    assert remote.image == sleep.images["arm64"] and "handler" not in (remote.envVars or {})
    with pytest.raises(CatalogError, match="no image for platform 'armhf'"):
        sleep.deployment(local=False, platform="armhf")


def test_file_catalog_resolves_handlers_relative_to_itself(tmp_path: Path) -> None:
    (tmp_path / "fns" / "hi").mkdir(parents=True)
    (tmp_path / "fns" / "hi" / "handler.py").write_text("def handle(req):\n    return 'hi'\n")
    catalog_file = tmp_path / "store.json"
    catalog_file.write_text(
        json.dumps(
            {
                "functions": [
                    {
                        "name": "hi",
                        "title": "Hi",
                        "images": {"x86_64": "x/hi"},
                        "lang": "python3",
                        "handler": "fns/hi",
                    },
                    {
                        "name": "figlet",
                        "title": "Figlet",
                        "images": {"x86_64": "functions/figlet"},
                        "fprocess": "figlet",
                    },
                    {"name": "img", "title": "Image only", "images": {"x86_64": "functions/img"}},
                ]
            }
        )
    )
    catalog = load_catalog(str(catalog_file))
    hi, figlet, img = catalog.functions
    assert hi.handler_path == (tmp_path / "fns" / "hi").resolve()
    assert figlet.deployment(local=True).envVars == {"mode": "fork"}
    assert not img.runs_locally
    with pytest.raises(CatalogError, match="no handler folder or fprocess"):
        img.deployment(local=True)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"functions": 3}', "'functions' list"),
        ('{"functions": [{"title": "x"}]}', "functions[0].name"),
    ],
)
def test_bad_catalog_names_the_problem(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CatalogError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        load_catalog(str(path))
    result = run_cli(["store", "list", "--url", str(path)], env=cli_env(tmp_path), cwd=tmp_path)
    result.assert_one_error(str(path))


@pytest.fixture
def catalog_server() -> Iterator[str]:
    body = json.dumps(
        {
            "version": "0.2.0",
            "functions": [{"name": "remote", "title": "Remote", "images": {"x86_64": "r/r"}}],
        }
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 200 if self.path == "/store.json" else 404
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body.encode() if status == 200 else b"nope")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_catalog_via_environment(tmp_path: Path, catalog_server: str) -> None:
    env = cli_env(tmp_path, OPENFAAS_STORE=f"{catalog_server}/store.json")
    result = run_cli(["store", "list", "--json"], env=env, cwd=tmp_path)
    assert result.code == 0, result.stderr
    [listed] = json.loads(result.stdout)
    assert listed["name"] == "default" and listed["up"] and listed["format"] == "openfaas-v2"
    assert [entry["name"] for entry in listed["functions"]] == ["remote"]
    described = run_cli(["store", "describe", "remote"], env=env, cwd=tmp_path)
    assert "r/r" in described.stdout
    missing = run_cli(["store", "list", "--url", f"{catalog_server}/missing.json"], env=env, cwd=tmp_path)
    missing.assert_one_error("HTTP 404")
    run_cli(["store", "describe", "nope"], env=env, cwd=tmp_path).assert_one_error(
        "is in no store (default)", "remote"
    )
