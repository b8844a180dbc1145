"""Three spaces, three operators, one federated calendar, in Debian's chromium (issue 18).

kobe, sapporo and hakodate run as real nodes on a real nats-server. kobe's operator (in
Japanese) creates an event through kobe's form while sapporo's operator (in English) has
sapporo's calendar open: it appears there without a reload. sapporo signs one of its
members up through sapporo's event page while kobe's event page is open: the sign-up
appears at kobe without a reload, and the host's answer comes back to sapporo's page the
same way. hakodate sees the event too. The operators switch language; a wrong token is
refused; a form posted to kobe from another origin is refused and creates nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, expect

from node.bus.embedded import EmbeddedNats
from tests.events.operator import knows
from tests.eventually import eventually
from tests.spaces import Space, spaces_for
from tests.web.browser import LAPTOP, PHONE, chromium

LIVE = 30_000  # ms: a record crosses the bus, then the page's next look (every 2 s) sends it
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest_asyncio.fixture
async def three(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[list[Space]]:
    async with spaces_for(tmp_path, ["kobe", "sapporo", "hakodate"], lambda n: nats_server.client_url) as spaces:
        yield spaces


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def _operator(browser: Browser, space: Space, locale: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(locale=locale, viewport=LAPTOP)
    page = await context.new_page()
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("close", lambda _: None)
    await page.goto(space.url + "/calendar")
    await page.locator("#token").fill(space.token)
    await page.locator("form[action='/signin'] button[type=submit]").click()
    await expect(page.locator("h1")).to_have_text("カレンダー" if locale.startswith("ja") else "Calendar")
    setattr(page, "csp_violations", seen)
    return context, page


async def _shots(page: Page, out: Path, name: str) -> None:
    """Phone and laptop screenshots; nothing wider than the window at either width."""
    for label, size in (("390", PHONE), ("1280", LAPTOP)):
        await page.set_viewport_size(size)
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= size["width"], f"{name} overflows at {label}px: {wide}px"
        await page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(LAPTOP)


async def _no_reload_since_marked(page: Page) -> bool:
    return bool(await page.evaluate("window.hitodeMark === true"))


async def test_kobe_creates_an_event_sapporo_sees_it_live_signs_a_member_up_and_kobe_sees_the_sign_up_live(
        three: list[Space], browser: Browser, tmp_path: Path) -> None:
    kobe, sapporo, hakodate = three
    shots = tmp_path / "screenshots"
    shots.mkdir()
    for a in three:
        for b in three:
            if a is not b:
                await eventually(lambda a=a, b=b: knows(a, b.id), timeout=60)
    haru = await sapporo.post("/api/members", {"name": "Haru Sato", "share_name": True})
    await sapporo.post("/api/members", {"name": "Private Person"})
    day = (dt.datetime.now(TOKYO) + dt.timedelta(days=1)).date()

    # A wrong token is refused at kobe, in Japanese, and gives no session.
    k_ctx = await browser.new_context(locale="ja-JP", viewport=LAPTOP)
    k_page = await k_ctx.new_page()
    await k_page.goto(kobe.url + "/calendar")
    await k_page.locator("#token").fill("kobe-but-wrong")
    await k_page.locator("form[action='/signin'] button[type=submit]").click()
    await expect(k_page.locator("#token-error")).to_have_text("このノードの運営者トークンではありません。")
    assert "hitode_session" not in {c["name"] for c in await k_ctx.cookies()}
    await k_ctx.close()

    k_ctx, k_page = await _operator(browser, kobe, "ja-JP")
    s_ctx, s_page = await _operator(browser, sapporo, "en-US")
    h_ctx, h_page = await _operator(browser, hakodate, "ja-JP")
    # sapporo's operator keeps the month of the event open; the page will never reload
    for page in (s_page, h_page):
        await page.goto(f"{page.url.split('/calendar')[0]}/calendar?month={day:%Y-%m}")
        await page.evaluate("window.hitodeMark = true")
    await expect(s_page.locator("#calendar-live")).not_to_contain_text("Jelly in Kobe")

    # kobe creates the event through its own form, with one mistake first
    await k_page.get_by_role("link", name="新しいイベント").click()
    await expect(k_page.locator("h1")).to_have_text("新しいイベント")
    await k_page.get_by_label("タイトル").fill("Jelly in Kobe 神戸ジェリー")
    await k_page.get_by_label("開始").fill(f"{day:%Y-%m-%d}T19:00")
    await k_page.get_by_label("終了").fill(f"{day:%Y-%m-%d}T18:00")
    await k_page.get_by_label("定員").fill("10")
    await k_page.get_by_label("部屋・場所").fill("2F ラウンジ")
    await k_page.get_by_role("button", name="保存").click()
    await expect(k_page.locator("#e-end")).to_contain_text("開始より後")
    await expect(k_page.get_by_label("部屋・場所")).to_have_value("2F ラウンジ")  # nothing typed is lost
    await expect(k_page.get_by_label("タイトル")).to_have_value("Jelly in Kobe 神戸ジェリー")
    await _shots(k_page, shots, "event-form-error-ja")
    await k_page.get_by_label("終了").fill(f"{day:%Y-%m-%d}T21:00")
    await k_page.get_by_role("button", name="保存").click()
    await expect(k_page.locator(".notice")).to_be_visible()
    await expect(k_page.locator("h1")).to_contain_text("Jelly in Kobe 神戸ジェリー")
    await expect(k_page.locator("#event-live")).to_contain_text("まだ申し込みはありません。")
    await k_page.evaluate("window.hitodeMark = true")

    # it appears on sapporo's and hakodate's open calendar, without a reload
    await expect(s_page.locator("#calendar-live")).to_contain_text("Jelly in Kobe", timeout=LIVE)
    await expect(h_page.locator("#calendar-live")).to_contain_text("Jelly in Kobe", timeout=LIVE)
    assert await _no_reload_since_marked(s_page) and await _no_reload_since_marked(h_page)
    await _shots(s_page, shots, "calendar-month-en")

    # sapporo signs Haru up through sapporo's page of kobe's event
    await s_page.locator("#calendar-live a.event", has_text="Jelly in Kobe").first.click()
    await expect(s_page.locator("h1")).to_contain_text("Jelly in Kobe")
    await expect(s_page.locator("#event-live")).not_to_contain_text("Haru Sato")
    await s_page.get_by_role("button", name="Sign up", exact=True).click()
    await expect(s_page.locator("#e-member")).to_have_text("Choose the member to sign up.")
    await s_page.get_by_label("Member of this space").select_option(label="Haru Sato")
    await s_page.get_by_role("button", name="Sign up", exact=True).click()
    await expect(s_page.locator(".notice")).to_contain_text("Signed up")
    # a member who keeps their name private is signed up too: kobe never learns the name
    await s_page.get_by_label("Member of this space").select_option(label="Private Person")
    await s_page.get_by_role("button", name="Sign up", exact=True).click()
    await expect(s_page.locator(".notice")).to_contain_text("Signed up")
    await s_page.evaluate("window.hitodeMark = true")

    # kobe's open event page shows the sign-up without a reload, and today's panel has it
    await expect(k_page.locator("#event-live")).to_contain_text("Haru Sato", timeout=LIVE)
    await expect(k_page.locator("#event-live")).to_contain_text("Sapporo Coworking")
    await expect(k_page.locator("#event-live")).to_contain_text("参加確定")
    await expect(k_page.locator("#event-live")).to_contain_text("名前を公開していないメンバー", timeout=LIVE)
    await expect(k_page.locator("#event-live")).to_contain_text("定員 10 人のうち 2 人が確定")
    assert "Private Person" not in await k_page.content()
    assert await _no_reload_since_marked(k_page)
    await _shots(k_page, shots, "event-ja")
    # and the host's answer reaches sapporo's open page the same way
    await expect(s_page.locator("#event-live")).to_contain_text("Haru Sato: seat confirmed", timeout=LIVE)
    assert await _no_reload_since_marked(s_page)
    await k_page.get_by_role("link", name="今日").click()
    await expect(k_page.locator("#panel-rsvps")).to_contain_text("Haru Sato")
    await _shots(k_page, shots, "today-ja")

    # kobe switches to English: the same pages now speak English, and it is remembered
    await k_page.get_by_role("link", name="English").click()
    await expect(k_page.locator("#h-rsvps")).to_have_text("RSVPs waiting")
    await k_page.get_by_role("link", name="Calendar").click()
    await k_page.goto(f"{kobe.url}/calendar?month={day:%Y-%m}")
    await expect(k_page.locator("h1")).to_have_text("Calendar")
    await k_page.locator("#calendar-live a.event", has_text="Jelly in Kobe").first.click()
    await expect(k_page.locator("#event-live")).to_contain_text("2 of 10 seats taken")
    await expect(k_page.locator("#event-live")).to_contain_text("seat confirmed")
    # sapporo switches to Japanese
    await s_page.get_by_role("link", name="日本語").click()
    await expect(s_page.locator("#event-live")).to_contain_text("Haru Sato: 参加確定")

    # the subscription address copies with the button (the script is a file: the CSP holds)
    await k_ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=kobe.url)
    await k_page.goto(kobe.url + "/calendar?space=kobe")
    await k_page.get_by_role("button", name="Copy").click()
    await expect(k_page.locator("#ics-url-status")).to_have_text("Copied")
    assert await k_page.evaluate("navigator.clipboard.readText()") == kobe.url + "/calendar.ics?space=kobe"
    await _shots(k_page, shots, "calendar-en")
    await k_page.goto(kobe.url + "/calendar/list")
    await _shots(k_page, shots, "calendar-list-en")
    await s_page.goto(sapporo.url + "/calendar/feeds")
    await _shots(s_page, shots, "feeds-ja")

    for page in (k_page, s_page, h_page):
        assert not getattr(page, "csp_violations"), getattr(page, "csp_violations")
    events: list[Any] = (await kobe.get("/api/events?space=kobe"))["events"]
    assert [e["title"] for e in events] == ["Jelly in Kobe 神戸ジェリー"] and events[0]["confirmed"] == 2
    assert "Private Person" not in repr((await kobe.get(f"/api/events/{events[0]['id']}"))["attendees"])
    for ctx in (k_ctx, s_ctx, h_ctx):
        await ctx.close()


async def test_a_form_posted_to_kobes_calendar_from_another_origin_creates_nothing(
        three: list[Space], browser: Browser) -> None:
    """A page elsewhere posts kobe's event form (with a guessed token): refused, 403, in the
    operator's language; kobe has no event. kobe's own form still works."""
    kobe = three[0]
    evil = web.Application()
    day = (dt.datetime.now(TOKYO) + dt.timedelta(days=2)).date()

    async def form(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=(
            f'<form method="post" action="{kobe.url}/calendar/new"><input name="title" value="Spam">'
            f'<input name="start" value="{day:%Y-%m-%d}T10:00"><input name="end" value="{day:%Y-%m-%d}T11:00">'
            '<input name="csrf" value="x"><button type="submit">go</button></form>'))

    evil.router.add_get("/", form)
    runner = web.AppRunner(evil)
    await runner.setup()
    await web.TCPSite(runner, "localhost", 0).start()
    port = runner.addresses[0][1]
    try:
        for locale, refused in (("ja-JP", "拒否しました"), ("en-US", "Refused")):
            context, page = await _operator(browser, kobe, locale)
            await page.goto(f"http://localhost:{port}/")
            async with page.expect_response(kobe.url + "/calendar/new") as answer:
                await page.get_by_role("button", name="go").click()
            assert (await answer.value).status == 403
            await expect(page.locator("h1")).to_have_text(refused)
            await context.close()
    finally:
        await runner.cleanup()
    assert (await kobe.get("/api/events?space=kobe"))["events"] == []
