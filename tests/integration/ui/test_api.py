"""The portal's HTTP side without a browser: routes, assets, headers, auth and the ``/system/ui/*`` JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from pyfaas.gateway.ui import ASSETS_DIR, SERIES
from tests.support.async_calls import until
from tests.support.gateway import RunningGateway, running_gateway, wait_available
from tests.support.providers import python_function, write_handler

HANDLER = """
def handle(event, context):
    if event.query.get("fail"):
        return {"statusCode": 503, "body": "no"}
    return {"statusCode": 200, "body": "ok"}
"""


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningGateway]:
    """One gateway for the module: the tests only read, except the store test (which adds ``echo``)."""
    tmp_path = tmp_path_factory.mktemp("ui-api")
    async with running_gateway(tmp_path / "state", auth=True) as gateway:
        spec = python_function("probe", write_handler(tmp_path / "probe", HANDLER))
        async with gateway.session() as session:
            async with session.post("/system/functions", json=spec.wire()) as response:
                assert response.status == 202
            await wait_available(session, "probe", 1)
        yield gateway


async def test_root_and_bare_ui_redirect_to_the_portal(gateway: RunningGateway) -> None:
    async with gateway.session() as session:
        for path in ("/", "/ui"):
            async with session.get(path, allow_redirects=False) as response:
                assert response.status in (307, 308), path
                assert response.headers["Location"] == "/ui/"


async def test_the_page_and_its_assets_are_served_with_a_strict_policy(gateway: RunningGateway) -> None:
    async with gateway.session() as session:
        async with session.get("/ui/") as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            page = await response.text()
            policy = response.headers["Content-Security-Policy"]
            etag = response.headers["ETag"]
        assert "script-src 'self'" in policy and "connect-src 'self'" in policy
        assert "http://" not in page and "https://" not in page  # nothing from elsewhere
        async with session.get("/ui/", headers={"If-None-Match": etag}) as response:
            assert response.status == 304
        for asset in sorted(ASSETS_DIR.iterdir()):
            async with session.get(f"/ui/{asset.name}") as response:
                assert response.status == 200, asset.name
                assert await response.read() == asset.read_bytes()
                if asset.suffix == ".js":
                    assert response.content_type == "text/javascript"
                    assert "https://" not in asset.read_text().replace("http://www.w3.org/2000/svg", "")
        async with session.get("/ui/missing.js") as response:
            assert response.status == 404
            assert "error" in await response.json()


async def test_everything_of_the_portal_needs_credentials(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession(gateway.url) as anonymous:
        for path in ("/ui/", "/ui/app.js", "/system/ui/info", "/system/ui/summary", "/system/ui/store"):
            async with anonymous.get(path) as response:
                assert response.status == 401, path
        wrong = aiohttp.BasicAuth("admin", "nope")
        async with anonymous.get("/system/ui/series?name=probe", auth=wrong) as response:
            assert response.status == 401


async def test_info_names_the_local_provider(gateway: RunningGateway) -> None:
    async with gateway.session() as session, session.get("/system/ui/info") as response:
        info = await response.json()
    assert info["local"] is True and info["provider"] == "pyfaas-local"
    assert info["async"] is False and info["chartSource"] == "gateway"


async def test_series_and_summary_count_the_calls(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession(gateway.url) as client:
        for index in range(12):
            async with client.get("/function/probe" + ("?fail=1" if index % 4 == 0 else "")) as reply:
                await reply.read()
    store = gateway.app[SERIES]

    def recorded() -> float:
        return sum(point.requests for point in store.points("probe.openfaas-fn"))

    await until(lambda: recorded() >= 12, 10, "the sampler to record the calls")

    async with gateway.session() as session:
        async with session.get("/system/ui/series", params={"name": "probe", "seconds": "60"}) as response:
            series = await response.json()
        async with session.get("/system/ui/summary") as response:
            summary = await response.json()
    assert series["source"] == summary["source"] == "gateway" and series["interval"] == 1.0
    assert len(series["t"]) == len(series["rps"]) == len(series["p99"]) >= 1
    calls = sum(rate * series["interval"] for rate in series["rps"])
    assert calls == pytest.approx(12, abs=0.5 * 12)  # the first interval is taken as one sample long
    assert max(ratio for ratio in series["errorRatio"] if ratio is not None) > 0
    probe = summary["functions"]["probe"]
    assert (probe["requests"], probe["errors"]) == (12, 3)
    assert probe["errorRatio"] == pytest.approx(0.25)
    assert probe["p50"] is not None and probe["p50"] < 5


BAD_SERIES_QUERIES = [
    ({}, "name"),
    ({"name": "Bad_Name"}, "name"),
    ({"name": "probe", "seconds": "ten"}, "seconds"),
    ({"name": "probe", "seconds": "99999"}, "seconds"),
    ({"name": "probe", "namespace": "NOPE"}, "namespace"),
    ({"name": "probe", "source": "elsewhere"}, "source"),
]


async def test_bad_series_queries_name_the_field(gateway: RunningGateway) -> None:
    async with gateway.session() as session:
        for query, field in BAD_SERIES_QUERIES:
            async with session.get("/system/ui/series", params=query) as response:
                assert response.status == 400, query
                assert (await response.json())["field"] == field, query


async def test_store_entries_say_if_they_run_here_and_come_with_a_deployment(gateway: RunningGateway) -> None:
    async with gateway.session() as session:
        async with session.get("/system/ui/store") as response:
            store = await response.json()
        assert store["local"] is True
        [bundled] = store["sources"]  # store_sources defaults to the bundled catalog alone
        assert bundled["name"] == "pyfaas" and bundled["up"] and bundled["format"] == "openfaas-v2"
        echo = next(entry for entry in bundled["functions"] if entry["name"] == "echo")
        assert echo["runnable"] is True and echo["reason"] == "" and echo["secrets"] == []
        wanted = {"source": "pyfaas", "name": "echo", "namespace": "openfaas-fn"}
        async with session.post("/system/ui/store/deployment", json=wanted) as response:
            assert response.status == 200, await response.text()
            deployment = (await response.json())["deployment"]
        assert deployment["envVars"]["mode"] == "python"
        assert (Path(deployment["envVars"]["handler"]) / "handler.py").is_file()
        async with session.post("/system/functions", json=deployment) as response:
            assert response.status == 202
        await wait_available(session, "echo", 1)
        async with session.post("/function/echo", data=b"from the store") as response:
            assert response.status == 200
            assert "from the store" in await response.text()
        for body, status, field in (
            ({"source": "elsewhere", "name": "echo"}, 404, "source"),
            ({"source": "pyfaas", "name": "absent"}, 404, "name"),
            ({"source": "pyfaas", "name": "echo", "service": "Not_A_Name"}, 400, "service"),
            ({"source": "pyfaas"}, 400, "name"),
        ):
            async with session.post("/system/ui/store/deployment", json=body) as response:
                assert response.status == status, body
                assert (await response.json())["field"] == field, body
