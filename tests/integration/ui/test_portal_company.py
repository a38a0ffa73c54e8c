"""A portal a company makes its own, in real headless Chromium: theme and store sources from gateway settings.

One real gateway (local provider, basic auth) whose settings give a title, a logo file, an accent colour,
header links and three store sources in order: a team catalog served by a real static file server on
loopback, the bundled store, and a source whose server answers 404. The page must carry the theme under its
strict Content-Security-Policy (no violation reported), list every source under its own name (the broken one
down, the others intact), say why an image-only entry cannot run in local mode, and deploy from the team
catalog with the secret it needs prompted for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.support.browser import (
    chromium,
    keep_screenshot,
    portal,
    publish_screenshots,
    requires_chromium,
)
from tests.support.gateway import CREDENTIALS, RunningGateway, running_gateway, wait_available
from tests.support.static_server import StaticServer, static_server
from tests.support.store_catalog import team_catalog

pytestmark = [
    pytest.mark.browser,
    requires_chromium,
    pytest.mark.timeout(150),
    pytest.mark.asyncio(loop_scope="module"),
]

ACCENT = "#0f7b6c"
LOGO = """<svg xmlns="http://www.w3.org/2000/svg" width="96" height="32" viewBox="0 0 96 32">
<rect width="96" height="32" rx="6" fill="#0f7b6c"/>
<text x="48" y="22" font-family="sans-serif" font-size="16" font-weight="700" fill="#ffffff"
text-anchor="middle">ACME</text></svg>
"""


@pytest.fixture(scope="module")
def catalog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticServer]:
    tmp_path = tmp_path_factory.mktemp("company-store")
    team_catalog(tmp_path / "www" / "team", tmp_path)
    with static_server(tmp_path / "www") as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(
    tmp_path_factory: pytest.TempPathFactory, catalog_server: StaticServer
) -> AsyncIterator[RunningGateway]:
    tmp_path = tmp_path_factory.mktemp("company-portal")
    logo = tmp_path / "acme-logo.svg"
    logo.write_text(LOGO)
    env = {
        "ui_title": "Acme Functions",
        "ui_logo": str(logo),
        "ui_accent": ACCENT,
        "ui_links": "Handbook=https://handbook.acme.example/functions, Runbooks=/ui/#/functions",
        "store_sources": (
            f"team={catalog_server.url}/team/catalog.json, pyfaas, "
            f"archive={catalog_server.url}/archive/catalog.json"
        ),
    }
    async with running_gateway(tmp_path / "state", auth=True, env=env) as gateway:
        yield gateway


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


def watch_policy(page: Page) -> list[str]:
    """Collects console errors and page errors (a CSP violation is reported as a console error)."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


async def test_the_portal_carries_the_company_theme(gateway: RunningGateway, browser: Browser) -> None:
    async with portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        problems = watch_policy(page)
        response = await page.goto("/ui/")
        assert response is not None
        policy = response.headers["content-security-policy"]
        assert (
            "default-src 'none'" in policy
            and "img-src 'self' data:" in policy
            and "style-src 'self'" in policy
        )
        await expect(page).to_have_title("Acme Functions portal")
        brand = page.locator("a.brand")
        await expect(brand).to_have_text("Acme Functions")
        await expect(brand).to_have_attribute("aria-label", "Acme Functions portal home")
        logo = brand.locator("img.brand-logo")
        await expect(logo).to_be_visible()
        assert await logo.evaluate("img => img.complete && img.naturalWidth > 0")
        source = await logo.get_attribute("src") or ""
        assert source.startswith("/ui/brand-logo?v=")
        served = await page.request.get(source)
        assert served.status == 200 and served.headers["content-type"] == "image/svg+xml"
        assert "sandbox" in served.headers["content-security-policy"] and await served.text() == LOGO
        links = page.get_by_role("navigation", name="Company links")
        await expect(links.get_by_role("link", name="Handbook")).to_have_attribute(
            "href", "https://handbook.acme.example/functions"
        )
        await expect(links.get_by_role("link", name="Runbooks")).to_have_attribute("href", "/ui/#/functions")
        # the accent colour comes from /ui/theme.css: the variable and what it paints
        accent = await page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--accent')"
        )
        assert accent.strip() == ACCENT
        await page.goto("/ui/#/store")
        deploy = page.get_by_role("button", name="Deploy Hello from team")
        await expect(deploy).to_be_enabled()
        assert await deploy.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(15, 123, 108)"
        await page.goto("/ui/#/functions")
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await page.screenshot(path=str(keep_screenshot("ui-company-theme.png")))
        assert problems == [], problems
    publish_screenshots("ui-company-theme.png")


async def test_the_store_page_lists_every_source_and_deploys_from_the_team_catalog(
    gateway: RunningGateway, browser: Browser
) -> None:
    async with portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        problems = watch_policy(page)
        await page.goto("/ui/#/store")
        sections = page.locator("section.store-source")
        await expect(sections).to_have_count(3)
        assert [await sections.nth(i).get_attribute("data-source") for i in range(3)] == [
            "team",
            "pyfaas",
            "archive",
        ]
        team = page.locator("section[data-source=team]")
        await expect(team.get_by_role("heading", level=2)).to_have_text("Team functions team")
        await expect(team.locator("li.store-item")).to_have_count(5)
        await expect(page.locator("section[data-source=pyfaas] li.store-item")).to_have_count(5)
        archive = page.locator("section[data-source=archive]")
        await expect(archive.locator(".badge.down")).to_have_text("down")
        await expect(archive.locator("p.error")).to_contain_text("archive/catalog.json: HTTP 404")

        # an image-only entry is shown, not hidden, and says why it cannot run here
        scanner = team.locator("li[data-name=scanner]")
        await expect(scanner.locator(".reason")).to_have_text(
            "Cannot run here: image only: local mode runs no containers (deploy it on a Kubernetes gateway)"
        )
        await expect(scanner.get_by_role("button", name="Deploy Scanner from team")).to_be_disabled()
        await page.screenshot(path=str(keep_screenshot("ui-store-sources.png")), full_page=True)

        # the greeter reads a secret the namespace lacks: the page asks for it, creates it, then deploys
        greeter = team.locator("li[data-name=greeter]")
        await expect(greeter.locator(".secrets")).to_have_text("Needs secrets: greeting")
        await greeter.get_by_role("button", name="Deploy Greeter from team").click()
        dialog = page.get_by_role("dialog", name="Secrets for Greeter")
        await expect(dialog).to_be_visible()
        await dialog.get_by_label("greeting").fill("Howdy")
        await dialog.screenshot(path=str(keep_screenshot("ui-store-secret.png")))
        await dialog.get_by_role("button", name="Create and deploy").click()
        await expect(page).to_have_url(f"{gateway.url}/ui/#/function/openfaas-fn/greeter")
        assert problems == [], problems
    async with gateway.session() as session:
        await wait_available(session, "greeter", 1)
        async with session.post("/function/greeter", data=b"Bob") as reply:
            assert reply.status == 200
            assert await reply.text() == "Howdy, Bob!"
        async with session.get("/system/secrets") as reply:
            assert [secret["name"] for secret in await reply.json()] == ["greeting"]
        # a template function from the team catalog: the gateway fetches and builds it for local mode
        wanted = {"source": "team", "name": "numbered", "namespace": "openfaas-fn"}
        async with session.post("/system/ui/store/deployment", json=wanted) as reply:
            assert reply.status == 200, await reply.text()
            deployment = (await reply.json())["deployment"]
        async with session.post("/system/functions", json=deployment) as reply:
            assert reply.status == 202, await reply.text()
        await wait_available(session, "numbered", 1)
        async with session.post("/function/numbered", data=b"a\nb\n") as reply:
            assert reply.status == 200
            assert await reply.text() == "1: a\n2: b\n"
    publish_screenshots("ui-store-sources.png", "ui-store-secret.png")
