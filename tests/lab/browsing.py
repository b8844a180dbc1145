"""What the LAB's browser tests share: a page signed in to a node in a language, watching
for Content-Security-Policy violations, and the checks at phone and laptop widths
(nothing wider than the window, no serious or critical axe-core violation) with a
screenshot in the test's tmp dir."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page

from tests.spaces import Space
from tests.web.browser import LAPTOP, PHONE, axe_violations, overflow

__all__ = ["open_signed_in", "shots"]


async def open_signed_in(browser: Browser, space: Space, locale: str, path: str) -> tuple[BrowserContext, Page, list[str]]:
    context = await browser.new_context(locale=locale, viewport=LAPTOP)
    page = await context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    await page.goto(space.url + "/signin?next=" + path)
    await page.locator("#token").fill(space.token)
    await page.locator("form[action='/signin'] button[type=submit]").click()
    return context, page, violations


async def shots(page: Page, out: Path, name: str) -> None:
    """At phone and laptop widths: nothing wider than the window, no serious or critical
    axe-core violation, and a screenshot in the test's tmp dir."""
    for label, size in (("390", PHONE), ("1280", LAPTOP)):
        await page.set_viewport_size(size)
        assert await overflow(page) <= 0, f"{name} overflows at {label}px"
        assert not await axe_violations(page), (name, label, await axe_violations(page))
        await page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(LAPTOP)
