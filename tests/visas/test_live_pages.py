"""The visa pages stay current while open, in Debian's chromium against real nodes: what
another desk, the API or the other space changes shows without a reload (server-sent
events woken by the visa books' commit topic; no inline script under the strict CSP).

Each page a test keeps open is marked in the browser (`window.sameDocument`): the mark
still there at the end shows the page was never loaded again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.spaces import Space
from tests.visas.conftest import MEMBER, member_with_pass
from tests.web.browser import chromium, signed_in

LIVE = 30_000  # ms: generous, the machine is shared
HERE = "#here-now tbody tr"
HANAKO = str(MEMBER["name"])


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


def _watch_csp(page: Page, seen: list[str]) -> None:
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)


async def _keep_open(page: Page, url: str) -> None:
    await page.goto(url)
    await page.wait_for_load_state("load")
    await page.evaluate("window.sameDocument = true")


async def _never_reloaded(page: Page) -> None:
    assert await page.evaluate("window.sameDocument === true"), f"{page.url} was loaded again"


async def test_two_desks_at_sapporo_see_a_kobe_visitor_checked_in_and_out_without_a_reload(
        pair: tuple[Space, Space], browser: Browser) -> None:
    """Two tabs of sapporo's desk have the visits page open. The first checks Hanako (kobe)
    in by pasting her pass: the second shows her under "here now" and in the books, and
    then kobe's confirmation. Taro checks in through the API: both tabs show him (the
    first keeps its keyboard focus on Hanako's check-out button). The
    second tab checks Hanako out (the first sees it), the API checks Taro out (both see
    it), and nobody is here any more on either tab."""
    kobe, sapporo = pair
    hanako_id = (await kobe.post("/api/members", {**MEMBER, "share_name": True}))["id"]
    hanako = await kobe.post(f"/api/members/{hanako_id}/passes", {"days": 30})
    _, taro = await member_with_pass(kobe, {"name": "鈴木 太郎", "email": "taro@example.jp", "share_name": True})
    csp: list[str] = []
    async with signed_in(browser, sapporo.url, sapporo.token, locale="en-GB") as (context, first):
        second = await context.new_page()  # a second tab: the same session
        for tab in (first, second):
            _watch_csp(tab, csp)
            await _keep_open(tab, sapporo.url + "/visits")
            await expect(tab.locator("#visits-live")).to_contain_text("No visitor is checked in now.")

        await first.get_by_label("Visa pass (paste its text, or scan its QR code)").fill(hanako["text"])
        await first.get_by_role("button", name="Check in", exact=True).click()
        await expect(first.locator("#checked-in")).to_be_visible()
        await _keep_open(first, first.url)  # from here on the first tab is not loaded again either
        await expect(second.locator(HERE)).to_have_count(1, timeout=LIVE)
        await expect(second.locator(HERE)).to_contain_text(HANAKO)
        hosted = second.locator("#books-hosted tbody tr")
        await expect(hosted).to_have_count(1)
        await expect(hosted.locator("td").last).to_have_text("confirmed", timeout=LIVE)  # kobe's ack

        # The first desk's keyboard is on Hanako's check-out button when Taro arrives
        # through the API: the part is replaced, the focus stays on her button.
        await first.locator(HERE, has_text=HANAKO).get_by_role("button", name="Check out").focus()
        hers = await first.locator(HERE, has_text=HANAKO).locator("form").get_attribute("action")
        visit = await sapporo.post("/api/visits", {"pass": taro["text"]})
        for tab in (first, second):
            await expect(tab.locator(HERE)).to_have_count(2, timeout=LIVE)
            await expect(tab.locator(HERE, has_text="鈴木 太郎")).to_have_count(1)
        assert await first.evaluate("document.activeElement.form.getAttribute('action')") == hers

        await second.locator(HERE, has_text=HANAKO).get_by_role("button", name="Check out").click()
        await expect(second.locator(HERE)).to_have_count(1)
        await _keep_open(second, second.url)
        await expect(first.locator(HERE)).to_have_count(1, timeout=LIVE)
        await expect(first.locator(HERE)).not_to_contain_text(HANAKO)

        await sapporo.post(f"/api/visits/{visit['id']}/checkout", {})
        for tab in (first, second):
            await expect(tab.locator("#visits-live")).to_contain_text("No visitor is checked in now.", timeout=LIVE)
            await expect(tab.locator("#books-hosted tbody tr")).to_have_count(2)
            await _never_reloaded(tab)
    assert csp == []


async def test_kobes_open_passes_pages_show_its_members_visit_at_sapporo_without_a_reload(
        pair: tuple[Space, Space], browser: Browser) -> None:
    """kobe's operator (in Japanese) keeps Hanako's passes page, the pass holders page and
    the visits page open. sapporo checks Hanako in: her page lists the visit and one visa
    day used, the holders page counts the day, the visits page lists her under "our
    members at other spaces", all without a reload. Her pass revoked (through the API, as
    from another desk) leaves her page without its QR code and marks the pass revoked."""
    kobe, sapporo = pair
    hanako_id, hanako = await member_with_pass(kobe)
    csp: list[str] = []
    async with signed_in(browser, kobe.url, kobe.token) as (context, passes):
        holders, visits = await context.new_page(), await context.new_page()
        for tab, path in ((passes, f"/members/{hanako_id}/passes"), (holders, "/passes"), (visits, "/visits")):
            _watch_csp(tab, csp)
            await _keep_open(tab, kobe.url + path)
        await expect(passes.locator("#days-used")).to_have_text("今月のビザ利用は 0 日です。")
        await expect(passes.locator("#qr svg")).to_be_visible()
        await expect(holders.locator("#holders tbody tr .days")).to_have_text("0")
        await expect(visits.locator("#books-sent")).to_have_count(0)

        await sapporo.post("/api/visits", {"pass": hanako["text"]})
        await expect(passes.locator("#days-used")).to_have_text("今月のビザ利用は 1 日です。", timeout=LIVE)
        await expect(passes.locator("#member-visits tbody tr")).to_have_count(1)
        await expect(passes.locator("#member-visits tbody tr td").nth(1)).to_have_text("sapporo")
        await expect(holders.locator("#holders tbody tr .days")).to_have_text("1", timeout=LIVE)
        await expect(visits.locator("#books-sent tbody tr")).to_have_count(1, timeout=LIVE)
        await expect(visits.locator("#books-sent")).to_contain_text(HANAKO)

        await kobe.post(f"/api/passes/{hanako['id']}/revoke", {})
        await expect(passes.locator(f"#pass-{hanako['id']} .state")).to_have_text("無効化済み", timeout=LIVE)
        await expect(passes.locator("#qr")).to_have_count(0)
        for tab in (passes, holders, visits):
            await _never_reloaded(tab)
    assert csp == []
