"""Debian's chromium driven by Playwright, for the dashboard's tests: never a downloaded
browser. The flags keep chromium off the network it would otherwise call home to.

Also what every browser test shares: signing in, the page checks (nothing wider than the
window; axe-core, vendored for the tests only and pinned by hash, finds no serious or
critical violation) and the screenshots, written to artefacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any, Final

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

__all__ = ["chromium", "CHROMIUM", "PHONE", "LAPTOP", "signed_in", "sign_in", "axe_violations", "overflow",
           "SCREENSHOTS", "screenshot", "screenshot_name"]

CHROMIUM: Final = Path("/usr/bin/chromium")
FLAGS: Final = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
PHONE: Final = {"width": 390, "height": 844}
LAPTOP: Final = {"width": 1280, "height": 800}
ROOT: Final = Path(__file__).resolve().parents[2]
SCREENSHOTS: Final = ROOT / "artefacts" / "screenshots"
AXE: Final = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
AXE_SHA256: Final = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    assert CHROMIUM.exists(), "install Debian's chromium: apt-get install chromium fonts-noto-cjk (make test does, as root)"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(page: Page, token: str) -> None:
    await page.locator("#token").fill(token)
    await page.locator("form[action='/signin'] button[type=submit]").click()


@asynccontextmanager
async def signed_in(browser: Browser, url: str, token: str, *, locale: str = "ja-JP",
                    viewport: dict[str, int] = LAPTOP) -> AsyncIterator[tuple[BrowserContext, Page]]:
    """A new browser context (its own cookies) signed in to the node at `url`, on its today page."""
    context = await browser.new_context(locale=locale, viewport=viewport)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        await page.goto(url + "/signin")
        await sign_in(page, token)
        await page.wait_for_url(url + "/")
        yield context, page
    finally:
        await context.close()


@cache
def _axe_source() -> str:
    data = AXE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == AXE_SHA256, f"{AXE} is not the pinned axe-core"
    return data.decode("utf-8")


async def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of these impacts on the page as it is now, one line each.

    The script goes in through the DevTools protocol (page.evaluate), which the page's CSP
    does not govern: the node's own pages never carry it."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(_axe_source())
    found: list[dict[str, Any]] = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['nodes'][:5])}"
            for v in found if v["impact"] in impacts]


async def overflow(page: Page) -> int:
    """How many pixels the page is wider than its window (0: nothing scrolls sideways)."""
    return int(await page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth"))


def screenshot_name(path: str, lang: str, width: int) -> str:
    """`/members/{id}` in Japanese at 390 px: members-id-ja-390.png."""
    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "today"
    return f"{slug}-{lang}-{width}.png"


async def screenshot(page: Page, path: str, lang: str, width: int) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    out = SCREENSHOTS / screenshot_name(path, lang, width)
    await page.screenshot(path=str(out), full_page=True)
    return out
