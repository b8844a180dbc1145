"""The operator's dashboard in a real browser (issue 18): Debian's chromium, driven by
Playwright, against a real node. Sign in with the token, read the today page in Japanese
and in English, switch and keep the language, sign out; a wrong token, a cross-site form
and inline script are refused. Screenshots at phone and laptop widths go to the test's
tmp dir."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Page, expect

from node.bus.embedded import EmbeddedNats
from tests.spaces import Space, spaces_for
from tests.web.browser import LAPTOP, PHONE, chromium


@pytest_asyncio.fixture
async def kobe(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Space]:
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (space,):
        yield space


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


def _watch_csp(page: Page, seen: list[str]) -> None:
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)


async def _shots(page: Page, out: Path, name: str) -> None:
    """Phone and laptop screenshots; nothing wider than the window at either width."""
    for label, size in (("390", PHONE), ("1280", LAPTOP)):
        await page.set_viewport_size(size)
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= size["width"], f"{name} overflows at {label}px: {wide}px"
        await page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)


async def _sign_in(page: Page, token: str) -> None:
    await page.locator("#token").fill(token)
    await page.locator("form[action='/signin'] button[type=submit]").click()


async def test_operator_signs_in_reads_today_in_japanese_switches_to_english_and_signs_out(
        kobe: Space, browser: Browser, tmp_path: Path) -> None:
    """A Japanese browser gets the sign-in page in Japanese; the token opens the today page
    (health, events) and the federation page; the switch to English is remembered across
    pages and reloads; signing out closes the session. No CSP violation, no inline script."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    await kobe.post("/api/events", {"title": "ジェリー会", "start": _soon(1), "end": _soon(3)})
    await kobe.request("PATCH", "/api/space", {"house_rules": "冷蔵庫のものには名前を。"})
    context = await browser.new_context(locale="ja-JP", viewport=LAPTOP)
    page = await context.new_page()
    violations: list[str] = []
    _watch_csp(page, violations)
    response = await page.goto(kobe.url + "/")
    assert response is not None and response.url.startswith(kobe.url + "/signin")
    assert "default-src 'none'" in (await response.all_headers())["content-security-policy"]
    await expect(page.locator("h1")).to_have_text("サインイン")
    await _shots(page, shots, "signin-ja")

    await _sign_in(page, kobe.token)
    await expect(page.locator("h1")).to_contain_text("今日")
    await expect(page.locator("html")).to_have_attribute("lang", "ja")
    await expect(page.locator("#h-health")).to_have_text("連合の状態")
    await expect(page.locator(".status-connected")).to_have_text("接続中")
    await expect(page.locator("text=ジェリー会")).to_be_visible()
    assert await page.locator("script:not([src])").count() == 0
    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["hitode_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    await _shots(page, shots, "today-ja")

    await page.get_by_role("link", name="連合").click()
    await expect(page.locator("h1")).to_have_text("連合")
    await expect(page.locator("#space-kobe")).to_contain_text("オンライン")
    await expect(page.locator("#space-kobe")).to_contain_text("月 2 日まで無料")
    await expect(page.locator("#space-kobe")).to_contain_text("冷蔵庫のものには名前を。")
    await _shots(page, shots, "federation-ja")

    await page.get_by_role("link", name="English").click()
    await expect(page.locator("h1")).to_have_text("Federation")
    await page.get_by_role("link", name="Today").click()
    await expect(page.locator("#h-health")).to_have_text("Federation health")
    await page.reload()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await _shots(page, shots, "today-en")
    await page.get_by_role("link", name="Federation").click()
    await _shots(page, shots, "federation-en")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("h1")).to_have_text("Sign in")
    await page.goto(kobe.url + "/")
    await expect(page.locator("h1")).to_have_text("Sign in")
    assert not violations, violations
    assert len(list(shots.glob("*.png"))) == 10
    await context.close()


async def test_the_today_page_shows_a_new_event_without_a_reload(kobe: Space, browser: Browser) -> None:
    """The operator keeps today open; an event made meanwhile (here over the API) appears in
    "this week" over server-sent events, the page never reloaded."""
    context = await browser.new_context(locale="ja-JP")
    page = await context.new_page()
    await page.goto(kobe.url + "/signin")
    await _sign_in(page, kobe.token)
    await expect(page.locator("#h-week")).to_have_text("今週")
    await page.evaluate("window.sameDocument = true")
    await kobe.post("/api/events", {"title": "もくもく会", "start": _soon(24 * 3), "end": _soon(24 * 3 + 2)})
    await expect(page.locator("#today-live")).to_contain_text("もくもく会", timeout=15_000)
    assert await page.evaluate("window.sameDocument === true")
    await context.close()


async def test_a_wrong_token_is_refused_in_the_operators_language_and_sign_ins_are_rate_limited(
        kobe: Space, browser: Browser) -> None:
    """A wrong token: 401, the error next to the field, no session. After five, even the
    right token is refused for a while (429)."""
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await page.goto(kobe.url + "/signin")
    await _sign_in(page, "not-the-token")
    await expect(page.locator("#token-error")).to_have_text("That is not this node's operator token.")
    assert "hitode_session" not in {c["name"] for c in await context.cookies()}
    await context.close()
    async with aiohttp.ClientSession() as http:
        for _ in range(4):
            async with http.post(kobe.url + "/signin", data={"token": "wrong"}, allow_redirects=False) as r:
                assert r.status == 401
        async with http.post(kobe.url + "/signin", data={"token": kobe.token}, allow_redirects=False,
                             headers={"Accept-Language": "ja"}) as r:
            assert r.status == 429 and "数分待って" in await r.text()
            assert "hitode_session" not in r.cookies


async def test_a_form_posted_from_another_site_is_refused(kobe: Space, browser: Browser, tmp_path: Path) -> None:
    """A page on another origin posts to the node's sign-out and profile forms: 403, nothing
    changes; the operator's same-origin form still works and a bad value is named in Japanese."""
    evil = web.Application()

    async def form(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=(
            f'<form method="post" action="{kobe.url}/space"><input name="name" value="Pwned">'
            '<input name="csrf" value="x"><button type="submit">go</button></form>'))

    evil.router.add_get("/", form)
    runner = web.AppRunner(evil)
    await runner.setup()
    site = web.TCPSite(runner, "localhost", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        context = await browser.new_context(locale="ja-JP")
        page = await context.new_page()
        await page.goto(kobe.url + "/signin?next=/space")
        await _sign_in(page, kobe.token)
        await expect(page.locator("h1")).to_have_text("マイスペース")
        await page.locator("#f-name").fill("   ")
        await page.locator("#f-city").fill("神戸市")
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator("#e-name")).to_contain_text("「名前」")
        await expect(page.locator("#f-city")).to_have_value("神戸市")  # nothing typed is lost
        await page.locator("#f-name").fill("Kobe Coworking")
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator(".notice")).to_be_visible()

        await page.goto(f"http://localhost:{port}/")
        async with page.expect_response(kobe.url + "/space") as answer:
            await page.get_by_role("button", name="go").click()
        assert (await answer.value).status == 403
        await expect(page.locator("h1")).to_have_text("拒否しました")
        await context.close()
    finally:
        await runner.cleanup()
    assert (await kobe.get("/api/spaces/kobe"))["name"] == "Kobe Coworking"
    async with aiohttp.ClientSession() as http:
        async with http.post(kobe.url + "/signout", headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403
        async with http.post(kobe.url + "/signout", headers={"Sec-Fetch-Site": "cross-site"}) as r:
            assert r.status == 403
        async with http.get(kobe.url + "/openapi.json") as r:  # pages are HTML, not the JSON API
            assert not {"/", "/federation", "/space", "/signin", "/signout"} & (await r.json())["paths"].keys()


def _soon(hours: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).isoformat()


async def test_without_origin_headers_a_form_needs_the_sessions_token(kobe: Space) -> None:
    """A client that sends neither Sec-Fetch-Site nor Origin (an old browser, a script with the
    cookie): a form post without the session's token is refused, with it accepted."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(kobe.url + "/signin", data={"token": kobe.token}, allow_redirects=False) as r:
            assert r.status == 303
        async with http.get(kobe.url + "/space") as r:
            m = re.search(r'name="csrf" value="([^"]+)"', await r.text())
            assert r.status == 200 and m is not None
        form = {"name": "Kobe Coworking", "city": "神戸市"}
        async with http.post(kobe.url + "/space", data=form, allow_redirects=False) as r:
            assert r.status == 403
        async with http.post(kobe.url + "/space", data={**form, "csrf": "guessed"}, allow_redirects=False) as r:
            assert r.status == 403
        assert (await kobe.get("/api/spaces/kobe"))["city"] == ""
        async with http.post(kobe.url + "/space", data={**form, "csrf": m.group(1)}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/space?saved=1"
        assert (await kobe.get("/api/spaces/kobe"))["city"] == "神戸市"


async def test_a_page_that_does_not_exist_is_a_page_in_the_operators_language_and_the_api_stays_json(
    kobe: Space,
) -> None:
    """A browser sent to a wrong address gets an HTML page it can read, in Japanese or English;
    a script asking the API the same gets the JSON error the contract promises."""
    html = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}
    async with aiohttp.ClientSession() as http:
        async with http.get(kobe.url + "/no-such-page", headers={**html, "Accept-Language": "ja"}) as r:
            assert r.status == 404 and r.content_type == "text/html"
            body = await r.text()
            assert "見つかりません" in body and 'lang="ja"' in body
            assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        async with http.get(kobe.url + "/no-such-page", headers={**html, "Accept-Language": "en"}) as r:
            assert r.status == 404 and "Not found" in await r.text()
        async with http.get(kobe.url + "/api/no-such-thing", headers=html) as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
        async with http.get(kobe.url + "/no-such-page") as r:  # no Accept: a script
            assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
