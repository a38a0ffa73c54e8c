"""Browser test helpers: Debian's Chromium driven by Playwright (async API), headless, on loopback only.

``chromium()`` launches ``/usr/bin/chromium`` with flags that keep it off the network (no QUIC, no
background or component updates, no sync); ``portal(browser, url, credentials=...)`` opens a page in a
fresh context whose HTTP basic-auth credentials answer the gateway's challenge, as a user's browser would.
``requires_chromium`` skips a test only when the binary is absent (scripts/test.sh installs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "DOC_IMAGES",
    "EXPECT_TIMEOUT_MS",
    "chromium",
    "keep_screenshot",
    "portal",
    "publish_screenshots",
    "requires_chromium",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
"""Screenshots and other files a human may want to look at after a run (gitignored)."""
DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
"""Where PYFAAS_UPDATE_DOC_IMAGES=1 copies the screenshots that docs/ui.md shows."""


def keep_screenshot(name: str) -> Path:
    """The path under ``ARTIFACTS`` to save screenshot ``name`` at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def publish_screenshots(*names: str) -> None:
    """Copy the named screenshots into ``DOC_IMAGES`` when PYFAAS_UPDATE_DOC_IMAGES=1."""
    if os.environ.get("PYFAAS_UPDATE_DOC_IMAGES") == "1":
        DOC_IMAGES.mkdir(exist_ok=True)
        for name in names:
            shutil.copyfile(ARTIFACTS / name, DOC_IMAGES / name)


EXPECT_TIMEOUT_MS = 15_000
"""How long ``expect(...)`` assertions retry (Playwright's default, 5 s, is short on a loaded CI machine)."""
expect.set_options(timeout=EXPECT_TIMEOUT_MS)

requires_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), timeout=30_000
        )
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def portal(
    browser: Browser,
    base_url: str,
    *,
    credentials: tuple[str, str] | None,
    viewport: tuple[int, int] = (1400, 1000),
) -> AsyncIterator[Page]:
    """A page in a fresh context (own cookies and auth cache) with ``base_url`` as its base."""
    context: BrowserContext = await browser.new_context(
        base_url=base_url,
        http_credentials={"username": credentials[0], "password": credentials[1]} if credentials else None,
        viewport={"width": viewport[0], "height": viewport[1]},
        color_scheme="light",
        reduced_motion="reduce",
    )
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()
