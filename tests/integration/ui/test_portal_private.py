"""The portal's invoke panel calls a private function (com.pyfaas.private) with a key, in real Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.support.browser import chromium, portal, requires_chromium
from tests.support.gateway import CREDENTIALS, running_gateway, wait_available
from tests.support.providers import python_function, write_handler

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.timeout(120)]

HANDLER = """
def handle(event, context):
    return "private hello, authorization=" + str(event.headers.get("Authorization"))
"""


async def test_the_invoke_panel_sends_the_function_key(tmp_path: Path) -> None:
    handler = write_handler(tmp_path / "private-ui", HANDLER)
    spec = python_function("private-ui", handler, annotations={"com.pyfaas.private": "true"})
    async with running_gateway(tmp_path / "state", auth=True) as gateway, gateway.session() as admin:
        async with admin.post("/system/functions", json=spec.wire()) as response:
            assert response.status == 202
        await wait_available(admin, "private-ui", 1)
        async with admin.post("/system/function-keys/private-ui") as response:
            key = (await response.json())["key"]

        async with chromium() as browser, portal(browser, gateway.url, credentials=CREDENTIALS) as page:
            await page.goto("/ui/#/function/openfaas-fn/private-ui")
            await page.get_by_role("button", name="Invoke", exact=True).click()
            await expect(page.locator(".invoke-result [data-status]")).to_have_attribute("data-status", "401")

            await page.get_by_label("Function key", exact=True).fill(key)
            await page.get_by_role("button", name="Invoke", exact=True).click()
            await expect(page.locator(".invoke-result [data-status]")).to_have_text("200 OK")
            await expect(page.locator(".reply-body")).to_have_text("private hello, authorization=None")
