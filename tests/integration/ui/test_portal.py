"""The portal in real headless Chromium against a real gateway, local provider and watchdog replicas.

Each test opens ``/ui/`` in a fresh browser context with basic-auth credentials (Playwright
``http_credentials``), so the page's own ``fetch`` calls carry them exactly as a user's browser would. The
gateway and the browser are shared by the module (start-up is most of the cost); tests that change state work
on functions of their own.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from playwright.async_api import Error as PlaywrightError

from tests.support.browser import (
    ARTIFACTS,
    chromium,
    keep_screenshot,
    portal,
    publish_screenshots,
    requires_chromium,
)
from tests.support.gateway import CREDENTIALS, RunningGateway, running_gateway, wait_available
from tests.support.polling import eventually
from tests.support.providers import python_function, write_handler

pytestmark = [
    pytest.mark.browser,
    requires_chromium,
    pytest.mark.timeout(120),
    pytest.mark.asyncio(loop_scope="module"),
]

NAMESPACE = "openfaas-fn"
NARROW = (420, 900)
"""A phone held upright: the width at which the list used to overflow and paths wrapped a letter per line."""
HELLO = """
import os

def handle(event, context):
    print("hello called with", event.body.decode(), flush=True)
    if event.query.get("fail"):
        return {"statusCode": 500, "body": "failed on purpose"}
    greeting = os.environ.get("GREETING", "hello")
    seen = event.headers.get("X-Trace", "") + "/" + event.headers.get("X-Other", "")
    return {"statusCode": 200, "body": greeting + " " + event.body.decode(), "headers": {"X-Seen": seen}}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def handler_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_handler(tmp_path_factory.mktemp("ui-handlers") / "hello", HELLO)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(
    tmp_path_factory: pytest.TempPathFactory, handler_dir: Path
) -> AsyncIterator[RunningGateway]:
    async with running_gateway(tmp_path_factory.mktemp("ui-portal") / "state", auth=True) as gateway:
        await deploy(gateway, "hello", handler_dir, labels={"team": "web"})
        yield gateway


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


async def deploy(gateway: RunningGateway, name: str, handler: Path, **fields: object) -> None:
    spec = python_function(name, handler, **fields)
    async with gateway.session() as session:
        async with session.post("/system/functions", json=spec.wire()) as response:
            assert response.status == 202, await response.text()
        await wait_available(session, name, 1)


def function_page(name: str) -> str:
    return f"/ui/#/function/{NAMESPACE}/{name}"


async def traffic(gateway: RunningGateway, name: str, calls: int, *, fail_every: int = 0) -> None:
    async with aiohttp.ClientSession(gateway.url) as session:
        for index in range(calls):
            failing = fail_every and index % fail_every == 0
            async with session.post(f"/function/{name}" + ("?fail=1" if failing else ""), data=b"x") as reply:
                await reply.read()


async def test_the_list_shows_deployed_functions(gateway: RunningGateway, browser: Browser) -> None:
    async with portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        await page.goto("/ui/")
        row = page.locator("table.functions tbody tr[data-name=hello]")
        await expect(row).to_be_visible()
        await expect(row.locator("td.replicas")).to_have_text("1/1")
        await expect(row).to_contain_text("team=web")
        await expect(row).to_contain_text("handler")

        # keyboard: j focuses the first function, Enter opens it; "g d" goes to the deploy form; "?" helps
        await page.locator("body").press("j")
        first = page.locator("a.fn-link").first
        await expect(first).to_be_focused()
        name = await first.inner_text()
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(f"{gateway.url}{function_page(name)}")
        await page.keyboard.press("Escape")
        await page.locator("h1").click()
        await page.keyboard.press("g")
        await page.keyboard.press("d")
        await expect(page.get_by_role("heading", name="Deploy a function")).to_be_visible()
        await page.keyboard.press("?")
        await expect(page.get_by_role("dialog", name="Keyboard")).to_be_visible()


async def test_credentials_in_the_address_open_the_portal(gateway: RunningGateway, browser: Browser) -> None:
    """``http://admin:PASSWORD@host:port/ui/`` is a common way to open a basic-auth page: the document's URL
    then carries the credentials, and ``fetch()`` refuses a relative URL resolved against it."""
    user, password = CREDENTIALS
    address = gateway.url.replace("://", f"://{user}:{password}@", 1)
    errors: list[str] = []
    async with portal(browser, gateway.url, credentials=None) as page:
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        await page.goto(f"{address}/ui/")
        await expect(page.locator("tr[data-name=hello] td.replicas")).to_have_text("1/1")
        await page.locator("tr[data-name=hello] a").click()
        await expect(page.locator(".status-line")).to_contain_text("1/1 ready")
        await page.get_by_label("Body", exact=True).fill("with credentials in the address")
        await page.get_by_role("button", name="Invoke", exact=True).click()
        await expect(page.locator(".reply-body")).to_have_text("hello with credentials in the address")
        await expect(page.locator("ol.logs")).to_contain_text("hello called with with credentials")
    assert errors == []


async def overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no sideways scrolling)."""
    return int(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


async def lines_of(page: Page, selector: str) -> list[float]:
    """For each element: its height in lines of its own line height."""
    heights: list[float] = await page.locator(selector).evaluate_all(
        "els => els.map(el => el.getBoundingClientRect().height"
        " / parseFloat(getComputedStyle(el).lineHeight))"
    )
    return heights


async def test_a_narrow_screen_shows_the_list_and_logs_without_overflow(
    gateway: RunningGateway, browser: Browser
) -> None:
    async with portal(browser, gateway.url, credentials=CREDENTIALS, viewport=NARROW) as page:
        await page.goto("/ui/")
        row = page.locator("tr[data-name=hello]")
        await expect(row.locator(".replicas")).to_have_text("1/1")
        await page.screenshot(path=str(keep_screenshot("ui-narrow.png")), full_page=True)
        assert await overflow(page) == 0
        # the handler path wraps at most onto a second line, not a letter per line
        [path_lines] = await lines_of(page, "tr[data-name=hello] .source code")
        assert path_lines < 2.5, path_lines
        box = await row.locator(".source code").bounding_box()
        assert box is not None and box["width"] > NARROW[0] / 2, box

        await row.locator("a").click()
        await page.get_by_label("Body", exact=True).fill("on a narrow screen")
        await page.get_by_role("button", name="Invoke", exact=True).click()
        await expect(page.locator("ol.logs")).to_contain_text("hello called with on a narrow screen")
        assert await overflow(page) == 0
        # each log line's time and replica stay on one line
        for selector in ("ol.logs time", "ol.logs .instance"):
            lines = await lines_of(page, selector)
            assert lines and max(lines) < 1.5, (selector, lines)
        await page.locator("section[aria-labelledby=logs-title]").screenshot(
            path=str(keep_screenshot("ui-narrow-logs.png"))
        )
    publish_screenshots("ui-narrow.png", "ui-narrow-logs.png")


async def test_the_namespace_selector_lists_each_namespace(
    gateway: RunningGateway, browser: Browser, handler_dir: Path
) -> None:
    async with gateway.session() as session, session.post("/system/namespace/team-b") as response:
        assert response.status == 202, await response.text()
    spec = python_function("other", handler_dir, namespace="team-b")
    async with gateway.session() as session:
        async with session.post("/system/functions", json=spec.wire()) as response:
            assert response.status == 202, await response.text()
        await wait_available(session, "other", 1, namespace="team-b")
    async with portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        await page.goto("/ui/")
        await expect(page.locator("tr[data-name=hello]")).to_be_visible()
        await expect(page.locator("tr[data-name=other]")).to_have_count(0)
        await page.get_by_label("Namespace").select_option("team-b")
        await expect(page.locator("tr[data-name=other]")).to_be_visible()
        await expect(page.locator("tr[data-name=hello]")).to_have_count(0)
        await page.locator("tr[data-name=other] a").click()
        await expect(page).to_have_url(f"{gateway.url}/ui/#/function/team-b/other")
        await expect(page.locator(".status-line")).to_contain_text("1/1 ready")
        await page.get_by_role("button", name="Invoke", exact=True).click()
        await expect(page.locator(".invoke-result [data-status]")).to_have_text("200 OK")


LABELLED = "el => (el.labels && el.labels.length > 0) || !!el.getAttribute('aria-label')"


async def test_every_form_control_has_a_label(gateway: RunningGateway, browser: Browser) -> None:
    async with portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        for route, ready in (
            ("#/functions", "tr[data-name=hello]"),
            ("#/function/openfaas-fn/hello", "svg[data-chart=rps]"),
            ("#/deploy", "fieldset.checks legend"),
            ("#/deploy/openfaas-fn/hello", "fieldset.checks legend"),
            ("#/store", "li.store-item"),
            ("#/secrets", "form"),
        ):
            await page.goto("/ui/" + route)
            await expect(page.locator(ready).first).to_be_visible()
            controls = page.locator("input:not([type=hidden]), select, textarea")
            assert await controls.count() > 0, route
            for index in range(await controls.count()):
                control = controls.nth(index)
                described = await control.evaluate("el => el.outerHTML")
                assert await control.evaluate(LABELLED), f"{route}: unlabelled control {described}"


async def test_invoking_from_the_panel_shows_the_reply(gateway: RunningGateway, browser: Browser) -> None:
    async with portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        await page.goto(function_page("hello"))
        await page.get_by_label("Body", exact=True).fill("from the portal")
        await page.get_by_label("Headers", exact=True).fill("X-Trace: abc\nX-Other=def")
        await page.get_by_role("button", name="Invoke", exact=True).click()
        await expect(page.locator(".invoke-result [data-status]")).to_have_text("200 OK")
        await expect(page.locator(".reply-body")).to_have_text("hello from the portal")
        await expect(page.locator(".invoke-result .duration")).to_contain_text("ms")
        await page.locator(".invoke-result summary").click()
        await expect(page.locator(".invoke-result dl.headers")).to_contain_text("abc/def")

        # a failing call shows its status, not an exception; Ctrl+Enter sends from the keyboard
        await page.get_by_label("Path", exact=True).fill("/?fail=1")
        await page.get_by_label("Body", exact=True).press("Control+Enter")
        await expect(page.locator(".invoke-result [data-status]")).to_have_attribute("data-status", "500")
        await expect(page.locator(".reply-body")).to_have_text("failed on purpose")

        # the log panel streams the function's output
        await expect(page.locator("ol.logs")).to_contain_text("hello called with from the portal")


async def test_deploying_and_updating_from_the_form(
    gateway: RunningGateway, browser: Browser, tmp_path: Path
) -> None:
    handler = write_handler(tmp_path / "made-in-ui", HELLO)
    async with portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        await page.goto("/ui/#/deploy")
        await page.get_by_label("Name", exact=True).fill("made-in-ui")
        await page.get_by_role("radio", name="handler folder").check()
        await page.get_by_label("Handler folder", exact=True).fill(str(handler))
        await page.get_by_label("Environment", exact=True).fill("GREETING=hi-from-the-form")
        await page.get_by_label("Labels", exact=True).fill("origin=portal")
        await page.get_by_role("button", name="Deploy", exact=True).click()
        await expect(page).to_have_url(f"{gateway.url}{function_page('made-in-ui')}")
        await expect(page.locator(".status-line")).to_contain_text("1/1 ready", timeout=30_000)

    async with gateway.session() as session:
        status = await wait_available(session, "made-in-ui", 1)
        assert status["labels"] == {"origin": "portal"}
        async with session.post("/function/made-in-ui", data=b"there") as reply:
            assert reply.status == 200
            assert await reply.text() == "hi-from-the-form there"

    # update: the same form, prefilled from the function; the name cannot change
    async with portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        await page.goto(function_page("made-in-ui"))
        await page.get_by_role("link", name="Update").click()
        await expect(page.get_by_label("Name", exact=True)).to_have_attribute("readonly", "")
        await expect(page.get_by_label("Handler folder", exact=True)).to_have_value(str(handler))
        environment = page.get_by_label("Environment", exact=True)
        await expect(environment).to_have_value("GREETING=hi-from-the-form")
        await environment.fill("GREETING=updated")
        await page.get_by_role("button", name="Update", exact=True).click()
        await expect(page).to_have_url(f"{gateway.url}{function_page('made-in-ui')}")

    async with gateway.session() as session:

        async def answer() -> str:
            async with session.post("/function/made-in-ui", data=b"there") as reply:
                return await reply.text()

        await eventually(answer, lambda text: text == "updated there", 30)
        async with session.get("/system/function/made-in-ui") as reply:
            assert (await reply.json())["labels"] == {"origin": "portal"}


async def test_a_bad_deploy_names_the_field(gateway: RunningGateway, browser: Browser) -> None:
    async with portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        await page.goto("/ui/#/deploy")
        await page.get_by_label("Name", exact=True).fill("Not_Valid")
        await page.get_by_role("button", name="Deploy", exact=True).click()
        await expect(page.get_by_role("alert")).to_contain_text("Name")
        await expect(page.get_by_label("Name", exact=True)).to_be_focused()
        await expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")


async def chart_points(page: Page, chart: str, key: str) -> tuple[int, float]:
    path = page.locator(f"svg[data-chart={chart}] path[data-key={key}]")
    return int(await path.get_attribute("data-points") or 0), float(await path.get_attribute("data-max") or 0)


async def test_charts_draw_data_points_after_traffic(
    gateway: RunningGateway, browser: Browser, handler_dir: Path
) -> None:
    await deploy(gateway, "charted", handler_dir)
    requests: list[str] = []
    async with portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        page.on("request", lambda request: requests.append(request.url))
        await page.goto(function_page("charted"))
        await expect(page.locator("svg[data-chart=rps]")).to_be_visible()
        assert (await chart_points(page, "rps", "rps"))[1] == 0.0, "no traffic yet, yet the chart shows some"

        await traffic(gateway, "charted", 40, fail_every=4)
        # the sampler runs every second and the page redraws every second
        some = re.compile(r"^(?!0$)[0-9.e+-]+$")
        rps = page.locator("svg[data-chart=rps] path[data-key=rps]")
        await expect(rps).to_have_attribute("data-max", some)
        errors = page.locator("svg[data-chart=errors] path[data-key=errorRatio]")
        await expect(errors).to_have_attribute("data-max", some)
        p99_line = page.locator("svg[data-chart=latency] path[data-key=p99]")
        await expect(p99_line).to_have_attribute("data-points", some)
        points, peak = await chart_points(page, "rps", "rps")
        assert points >= 1 and peak > 0
        _, error_peak = await chart_points(page, "errors", "errorRatio")
        assert 0 < error_peak <= 1
        _, p99 = await chart_points(page, "latency", "p99")
        assert 0 < p99 < 10
        await page.get_by_label("Window").select_option("60")
        for _ in range(3):  # a few more seconds of traffic, so the screenshot shows lines, not dots
            await traffic(gateway, "charted", 12, fail_every=6)
            await asyncio.sleep(0.6)
        await page.get_by_label("Body", exact=True).fill("screenshot")
        await page.get_by_role("button", name="Invoke", exact=True).click()
        await expect(page.locator(".reply-body")).to_have_text("hello screenshot")
        await asyncio.sleep(1.2)  # one more redraw, so the screenshot shows the latest point
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "ui-function-page.png"), full_page=True)

    # offline by construction: every request the page made went to the gateway
    assert requests and all(url.startswith(gateway.url + "/") for url in requests), requests


async def test_a_wrong_password_gets_no_data(gateway: RunningGateway, browser: Browser) -> None:
    async with portal(browser, gateway.url, credentials=(CREDENTIALS[0], "wrong-password")) as page:
        try:
            response = await page.goto("/ui/")
        except PlaywrightError as exc:  # Chromium gives up on credentials the server keeps refusing
            assert "AUTH" in str(exc)
        else:
            assert response is not None and response.status == 401
        assert "hello" not in await page.content()
        assert await page.locator("table.functions").count() == 0
        for path in ("/system/functions", "/system/ui/summary", "/system/ui/series?name=hello", "/ui/app.js"):
            reply = await page.request.get(path)
            assert reply.status == 401, path
            assert b"hello" not in await reply.body()
    async with portal(browser, gateway.url, credentials=None) as page:
        reply = await page.request.get("/ui/")
        assert reply.status == 401
        assert reply.headers.get("www-authenticate") == 'Basic realm="Restricted"'


async def test_store_deploy_secrets_scale_and_delete(
    gateway: RunningGateway, browser: Browser, handler_dir: Path
) -> None:
    await deploy(gateway, "doomed", handler_dir)
    async with portal(browser, gateway.url, credentials=CREDENTIALS) as page:
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))

        # secrets: create, see it listed (never its value), delete
        await page.goto("/ui/#/secrets")
        await page.get_by_label("Secret name").fill("api-key")
        await page.get_by_label("Value").fill("s3cr3t-value")
        await page.get_by_role("button", name="Create").click()
        await expect(page.locator("tr[data-name=api-key]")).to_be_visible()
        assert "s3cr3t-value" not in await page.locator("table").inner_text()
        await page.get_by_role("button", name="Delete secret api-key").click()
        await expect(page.locator("tr[data-name=api-key]")).to_have_count(0)

        # store: one click deploys the bundled echo function, which answers
        await page.goto("/ui/#/store")
        await page.get_by_role("button", name="Deploy Echo").click()
        await expect(page).to_have_url(f"{gateway.url}{function_page('echo')}")
        async with gateway.session() as session:
            await wait_available(session, "echo", 1)
            async with session.post("/function/echo", data=b"ping") as reply:
                assert reply.status == 200
                assert "ping" in await reply.text()

        # scale a function to 2, then delete it
        await page.goto(function_page("doomed"))
        await page.get_by_label("Replicas").fill("2")
        await page.get_by_role("button", name="Scale").click()
        await expect(page.locator(".status-line")).to_contain_text("2/2 ready", timeout=30_000)
        await page.get_by_role("button", name="Delete").click()
        await expect(page).to_have_url(f"{gateway.url}/ui/#/functions")
        await expect(page.locator("tr[data-name=hello]")).to_be_visible()
        await expect(page.locator("tr[data-name=doomed]")).to_have_count(0)
    async with gateway.session() as session, session.get("/system/functions") as reply:
        names = [item["name"] for item in json.loads(await reply.text())]
        assert "doomed" not in names and {"hello", "echo"} <= set(names)
