"""The tickets page in a browser, as an operator sees it: signed in, in Japanese, on /tickets
(what the tickets browser tests share)."""

from __future__ import annotations

from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.spaces import Space
from tests.web.browser import LAPTOP

__all__ = ["signed_in"]


async def signed_in(browser: Browser, space: Space, *, camera: bool = False,
                    violations: list[str] | None = None) -> tuple[BrowserContext, Page]:
    """A new context signed in to `space` on its tickets page. `camera`: the browser may use
    the camera there; `violations`: where the page's Content-Security-Policy reports go."""
    context = await browser.new_context(locale="ja-JP", viewport=LAPTOP)
    if camera:
        await context.grant_permissions(["camera"], origin=space.url)
    page = await context.new_page()
    if violations is not None:
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    await page.goto(space.url + "/signin?next=/tickets")
    await page.locator("#token").fill(space.token)
    await page.locator("form[action='/signin'] button[type=submit]").click()
    await expect(page.locator("h1")).to_have_text("共通チケット")
    return context, page
