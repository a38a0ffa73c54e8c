"""Store sources served by a real static file server on loopback: both OpenFaaS formats, ETag revalidation,
a cache that outlives the server, and stores that are missing, malformed or hang (each one clear line, the
others still listed). Also ``store init`` / ``store validate`` on a catalog repository."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfaas.store.catalog import unavailable_reason
from pyfaas.store.sources import StoreSource, load_source, load_sources, parse_sources
from pyfaas.store.validate import validate_catalog
from tests.support.cli import cli_env, run_cli
from tests.support.static_server import StaticServer, static_server

pytestmark = pytest.mark.timeout(60)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[StaticServer]:
    root = tmp_path / "www"
    root.mkdir()
    for name in ("openfaas-functions-v2.json", "openfaas-store-v1.json"):
        shutil.copyfile(FIXTURES / name, root / name)
    (root / "broken.json").write_text('{"version": "0.2.0", "functions": [')
    with static_server(root) as server:
        try:
            yield server
        finally:
            server.release()


def test_both_openfaas_formats_load_from_their_documented_shape(served: StaticServer, tmp_path: Path) -> None:
    v2, v1 = load_sources(
        parse_sources(f"v2={served.url}/openfaas-functions-v2.json, v1={served.url}/openfaas-store-v1.json"),
        cache_dir=tmp_path / "cache",
    )
    assert v2.up and v2.catalog is not None and v2.catalog.format == "openfaas-v2"
    assert v1.up and v1.catalog is not None and v1.catalog.format == "openfaas-v1"
    wordcount, thumbnailer = v2.functions
    assert wordcount.images == {
        "x86_64": "registry.example/fixture/wordcount:1.2.0",
        "arm64": "registry.example/fixture/wordcount:1.2.0-arm64",
        "armhf": "registry.example/fixture/wordcount:1.2.0-armhf",
    }
    assert wordcount.network == "func_functions" and wordcount.author == "store-fixture"
    spec = wordcount.deployment(local=False, platform="arm64", name="wc", namespace="team")
    assert spec.image == "registry.example/fixture/wordcount:1.2.0-arm64" and spec.envProcess == "wc -w"
    assert spec.labels == {"com.openfaas.ui.ext": "txt"} and spec.annotations == {"topic": "text"}
    assert spec.envVars == {"write_timeout": "20s"} and spec.readOnlyRootFilesystem is True
    assert spec.service == "wc" and spec.namespace == "team"
    # local mode runs a command entry per request; an image-only one says why it cannot run
    assert unavailable_reason(wordcount, local=True) == ""
    assert wordcount.deployment(local=True).envVars == {"write_timeout": "20s", "mode": "fork"}
    assert unavailable_reason(thumbnailer, local=True).startswith("image only: local mode runs no containers")
    assert "no image for platform armhf" in unavailable_reason(thumbnailer, local=False, platform="armhf")

    uppercase, legacy = v1.functions
    # the first format's single image serves every platform; envProcess is its old name for fprocess
    assert uppercase.image("x86_64") == uppercase.image("arm64") == "registry.example/fixture/uppercase:0.1.0"
    assert uppercase.deployment(local=False).envProcess == "tr a-z A-Z"
    assert legacy.fprocess == "cat"


def test_etag_revalidation_and_a_cache_that_outlives_the_server(tmp_path: Path) -> None:
    root = tmp_path / "www"
    root.mkdir()
    shutil.copyfile(FIXTURES / "openfaas-functions-v2.json", root / "functions.json")
    cache = tmp_path / "cache"
    with static_server(root) as server:
        source = StoreSource(name="public", location=f"{server.url}/functions.json")
        first = load_source(source, cache_dir=cache)
        assert first.up and not first.not_modified
        second = load_source(source, cache_dir=cache)
        assert second.up and second.not_modified and second.functions == first.functions
        sent = server.requests_for("/functions.json")
        assert sent[0].if_none_match == "" and sent[0].status == 200
        assert sent[1].if_none_match and sent[1].status == 304

        # a changed file has a new ETag: the new content arrives
        catalog = json.loads((root / "functions.json").read_text())
        catalog["functions"] = catalog["functions"][:1]
        (root / "functions.json").write_text(json.dumps(catalog))
        third = load_source(source, cache_dir=cache)
        assert third.up and not third.not_modified and [e.name for e in third.functions] == ["wordcount"]
    # the server is gone: the source is down, and lists the copy it last served
    down = load_source(source, cache_dir=cache)
    assert not down.up and down.stale and "connection refused" in down.error
    assert [entry.name for entry in down.functions] == ["wordcount"]


def test_missing_malformed_and_slow_stores_are_one_line_each(served: StaticServer, tmp_path: Path) -> None:
    sources = (
        f"good={served.url}/openfaas-functions-v2.json, missing={served.url}/nothing-here.json, "
        f"broken={served.url}/broken.json, slow={served.url}/slow/functions.json, "
        f"failing={served.url}/status/503"
    )
    results = load_sources(parse_sources(sources), cache_dir=tmp_path / "cache", timeout=0.5)
    by_name = {result.source.name: result for result in results}
    assert [result.source.name for result in results] == ["good", "missing", "broken", "slow", "failing"]
    assert by_name["good"].up and len(by_name["good"].functions) == 2
    assert by_name["missing"].error.endswith("nothing-here.json: HTTP 404")
    assert "broken.json: not valid JSON" in by_name["broken"].error
    assert by_name["slow"].error.endswith("no answer within 0.5 s")
    assert by_name["failing"].error.endswith("HTTP 503")
    for name in ("missing", "broken", "slow", "failing"):
        assert "\n" not in by_name[name].error and not by_name[name].functions

    # the CLI: the good store is listed, each other one is one warning line, and the exit code is 0
    env = cli_env(tmp_path / "home", PYFAAS_STORE_SOURCES=sources)
    listed = run_cli(["store", "list"], env=env, cwd=tmp_path)
    assert listed.code == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[0].split()[:5] == ["Function", "Store", "Local", "Cluster", "Description"]
    assert [row.split()[:2] for row in rows[1:]] == [["wordcount", "good"], ["thumbnailer", "good"]]
    warnings = listed.error_lines()
    assert len(warnings) == 4 and all(line.startswith("Warning: store ") for line in warnings)
    assert any("store broken is down" in line and "not valid JSON" in line for line in warnings)

    # one store named on the command line: its failure is the command's one error line
    run_cli(["store", "list", "--store", "broken"], env=env, cwd=tmp_path).assert_one_error("not valid JSON")
    run_cli(["store", "list", "--store", "nope"], env=env, cwd=tmp_path).assert_one_error(
        "no store named 'nope'"
    )
    described = run_cli(["store", "describe", "thumbnailer", "--store", "good"], env=env, cwd=tmp_path)
    assert described.code == 0, described.stderr
    shown = dict(line.split(":", 1) for line in described.stdout.splitlines() if ":" in line)
    assert shown["Local mode"].strip().startswith("no: image only: local mode runs no containers")
    assert shown["Cluster"].strip() == "yes" and shown["Store"].strip().startswith("good (http://127.0.0.1:")


def test_init_scaffolds_a_catalog_that_validates_and_validate_names_file_and_field(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    created = run_cli(["store", "init", "team-catalog", "--title", "Team functions"], env=env, cwd=tmp_path)
    assert created.code == 0, created.stderr
    folder = tmp_path / "team-catalog"
    assert (folder / "catalog.json").is_file() and (folder / "functions" / "hello" / "handler.py").is_file()
    assert run_cli(["store", "validate", "team-catalog"], env=env, cwd=tmp_path).code == 0
    again = run_cli(["store", "init", "team-catalog"], env=env, cwd=tmp_path)
    again.assert_one_error("already exists")

    catalog = json.loads((folder / "catalog.json").read_text())
    hello = catalog["functions"][0]
    catalog["functions"] += [
        {**hello, "title": "Second hello"},  # the same name twice
        {
            "name": "Bad_Name",
            "title": "Bad",
            "description": "x",
            "images": {"x86_64": "acme/bad:latest", "arm64": "acme/bad"},
            "secrets": ["Not A Secret"],
        },
        {
            "name": "nohandler",
            "title": "No handler",
            "description": "x",
            "template": "node20",
            "handler": "functions/absent",
        },
        {"name": "typo", "title": "Typo", "description": "x", "labels": ["not", "a", "map"]},
    ]
    (folder / "functions" / "hello" / "helpers.py").write_text("X = 1\n")
    (folder / "catalog.json").write_text(json.dumps(catalog, indent=2))
    result = run_cli(["store", "validate", str(folder)], env=env, cwd=tmp_path)
    assert result.code == 1
    lines = result.stdout.splitlines()
    expected = [
        "functions/hello/helpers.py: functions[0].files: not listed",
        "functions/hello/helpers.py: functions[1].files: not listed",
        "catalog.json: functions[1].name: 'hello' is used twice (also functions[0])",
        "catalog.json: functions[2].name: ",
        "catalog.json: functions[2].images.arm64: 'acme/bad' is not pinned",
        "catalog.json: functions[2].images.x86_64: 'acme/bad:latest' is not pinned",
        "catalog.json: functions[2].secrets[0]: 'Not A Secret' is not a valid secret name",
        "catalog.json: functions[3].handler: folder functions/absent does not exist",
        "catalog.json: functions[4].labels: ",
    ]
    for fragment in expected:
        assert sum(line.startswith(fragment) for line in lines) == 1, (fragment, lines)
    assert len(lines) == len(expected), lines
    result.assert_one_error("9 problems in the catalog")
    assert [str(problem) for problem in validate_catalog(folder)] == lines
