"""Every page of the dashboard, found by walking the navigation (and the pages its links
lead to), in Japanese and in English, at phone (390 px) and laptop (1280 px) widths:
nothing is wider than the window, axe-core finds no serious or critical violation, no
Content-Security-Policy violation, and a screenshot of each goes to artefacts/screenshots/.

The walk knows no page by name, so a page a feature adds later is checked too. The node
holds real-looking data first (members, notes both ways, an event, refused records, an
alert, spaces on the map, one of them offline), so the pages are not checked empty.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import nats
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from node.bus.embedded import EmbeddedNats
from node.federation.identity import Identity
from tests.eventually import eventually
from tests.forge import forge, inject, profile
from tests.spaces import Space, spaces_for
from tests.web.browser import LAPTOP, PHONE, axe_violations, chromium, overflow, screenshot, sign_in, signed_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

SKIP = re.compile(r"^/(lang|live|static|api|signout)(/|$)|\.ics$")
ID_LIKE = re.compile(r"/[^/]*\d[^/]{7,}")  # a path segment that is an id: one page per shape


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def kobe(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Space]:
    """kobe with a full dashboard's worth of data; sapporo wrote to it and went offline."""
    base = tmp_path_factory.mktemp("every-page")
    async with EmbeddedNats(store_dir=base / "nats", name="kobe") as server:
        async with spaces_for(base, ["kobe", "sapporo"], lambda n: server.client_url) as (kobe, sapporo):
            await _seed(kobe, sapporo, server.client_url)
            yield kobe


async def _seed(kobe: Space, sapporo: Space, nats_url: str) -> None:
    await kobe.request("PATCH", "/api/space", {
        "name_ja": "神戸コワーキング", "city": "神戸市中央区", "hours": "平日 9:00-21:00、土日祝 10:00-18:00",
        "house_rules": "冷蔵庫のものには名前を。\n通話は電話ブースで。", "latitude": 34.69, "longitude": 135.19})
    await sapporo.request("PATCH", "/api/space", {"name_ja": "札幌コワーキング", "city": "札幌市",
                                                  "latitude": 43.06, "longitude": 141.35})
    for m in ({"name": "山田 花子", "email": "hanako@example.jp", "share_name": True, "skills": ["デザイン", "ウェブ制作"]},
              {"name": "Alexander Bartholomew Featherstonehaugh-Winterbottom", "email": "alexander.featherstonehaugh@example.com",
               "skills": ["translation", "accounting", "event photography"]}):
        await kobe.post("/api/members", m)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    await kobe.post("/api/events", {"title": "同時開催ジェリー会", "start": soon.isoformat(),
                                    "end": (soon + dt.timedelta(hours=3)).isoformat()})
    await eventually(lambda: kobe.space_version("sapporo"), timeout=30)
    await eventually(lambda: sapporo.space_version("kobe"), timeout=30)
    await sapporo.post("/api/notes", {"to": "kobe", "subject": "来月のJelly", "text": "同時開催しませんか?\n会場費は折半で。"})
    await kobe.post("/api/notes", {"to": "sapporo", "subject": "Re: 来月のJelly", "text": "ぜひ!"})
    later = (soon + dt.timedelta(days=14)).isoformat()
    asked = await sapporo.post("/api/requests", {"title": "ウェブサイト制作を手伝ってくれる人", "skills": ["web制作"],
                                                 "body": "商店街のサイトを一緒に作りたい", "deadline": later, "reward": "paid"})
    await kobe.post("/api/requests", {"title": "Translating a tourist guide into English", "skills": ["翻訳"],
                                      "kind": "consult", "deadline": later})
    await eventually(lambda: kobe.get(f"/api/requests/{asked['id']}"), timeout=30)
    # a LAB theme of kobe's, with a post and a report: its page shows the Edit and Retract of each
    theme = (await kobe.post("/api/lab/themes", {"title": "学生料金をどうする?", "question": "学生の利用を増やすには?"}))["id"]
    await kobe.post(f"/api/lab/themes/{theme}/posts", {"body": "神戸では平日昼の学生割を試しました。"})
    await kobe.post(f"/api/lab/themes/{theme}/reports", {"title": "学生半額デー", "tried": "毎週金曜を学生半額にした。",
                                                        "numbers": [{"name": "学生の来館", "value": 42, "unit": "人"}]})
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        mallory = Identity.generate("mallory")
        await inject(js, "hitode.pub.space.mallory", b"not a record at all")
        for name in ("Mallory One", "Mallory Two"):  # two records at seq 1: equivocation, an alert
            forged = forge(mallory, body=profile(mallory, name=name))
            await inject(js, forged.subject, forged.raw)
    finally:
        await nc.close()
    await eventually(lambda: _received(kobe), timeout=30)
    await eventually(lambda: _alerted(kobe), timeout=30)
    # common tickets: one redeemed at sapporo, one still unused
    used = await kobe.post("/api/tickets", {"valid_days": 30, "note": "オープンデー(12月)"})
    await kobe.post("/api/tickets", {"valid_days": 90})
    await sapporo.post("/api/tickets/redeem", {"ticket": used["text"]})
    await sapporo.stop()  # offline on kobe's map


async def _received(kobe: Space) -> bool:
    return any(n["direction"] == "in" for n in (await kobe.get("/api/notes"))["notes"])


async def _alerted(kobe: Space) -> bool:
    return bool((await kobe.get("/api/alerts"))["alerts"])


def _shape(path: str) -> str:
    return ID_LIKE.sub("/{id}", path)


async def _links(page: Page, selector: str) -> list[str]:
    # A link marked `download` (a CSV, a PNG) fetches a file, not a page.
    hrefs: list[str] = await page.eval_on_selector_all(
        selector, "els => els.filter(e => !e.hasAttribute('download')).map(e => e.getAttribute('href'))")
    # A #fragment is a place on its page, not another page (and going to it again would not load it).
    paths = [h.split("#")[0] for h in hrefs if h]
    return [h for h in paths if h.startswith("/") and not h.startswith("//") and not SKIP.search(urlsplit(h).path)]


async def _every_page(page: Page, url: str) -> list[str]:
    """The navigation's pages, then one page of each shape their links lead to."""
    await page.goto(url + "/")
    pages = list(dict.fromkeys(await _links(page, "header nav a")))
    assert len(pages) >= 5, pages
    shapes = {_shape(urlsplit(p).path) for p in pages}
    for p in list(pages):
        await page.goto(url + p)
        for link in await _links(page, "main a"):
            shape = _shape(urlsplit(link).path)
            if shape not in shapes:
                shapes.add(shape)
                pages.append(link)
    return pages


@pytest.mark.timeout(600)
@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_every_page_fits_a_phone_and_a_laptop_and_passes_axe(kobe: Space, browser: Browser, lang: str) -> None:
    """Walk every page in one language at both widths: no sideways scroll, no serious or
    critical axe violation, no CSP violation; a screenshot of each (the sign-in page too)."""
    context = await browser.new_context(locale="ja-JP" if lang == "ja" else "en-GB", viewport=LAPTOP)
    page = await context.new_page()
    csp: list[str] = []
    page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
    problems: list[str] = []
    shots: list[Path] = []

    async def check(path: str) -> None:
        for size in (PHONE, LAPTOP):
            await page.set_viewport_size(size)  # type: ignore[arg-type]
            response = await page.goto(kobe.url + path)
            assert response is not None and response.status == 200, f"{path}: {response and response.status}"
            await expect_lang(page, lang)
            if (wide := await overflow(page)) > 0:
                problems.append(f"{path} at {size['width']}px is {wide}px wider than the window")
            problems.extend(f"{path} at {size['width']}px: {v}" for v in await axe_violations(page))
            shots.append(await screenshot(page, _shape(urlsplit(path).path), lang, size["width"]))

    await page.goto(kobe.url + f"/lang/{lang}?next=/signin")
    await check("/signin")
    await sign_in(page, kobe.token)
    await page.wait_for_url(kobe.url + "/")
    walked = await _every_page(page, kobe.url)
    assert {"/members", "/notes", "/alerts", "/federation", "/space"} <= set(walked), walked
    assert any(p.startswith("/members/") for p in walked) and "/notes/new" in walked, walked
    for path in walked:
        await check(path)
    await context.close()
    assert not problems, "\n".join(problems)
    assert not csp, csp
    assert len(shots) == 2 * (len(walked) + 1)


async def expect_lang(page: Page, lang: str) -> None:
    assert await page.get_attribute("html", "lang") == lang, page.url


async def test_the_alerts_page_says_what_was_refused_from_whom_and_what_to_do(kobe: Space, browser: Browser) -> None:
    """mallory's garbage and its two different records under one number: in Japanese, who
    sent them, what happened and what to do, in words; the reason codes only in the details."""
    async with signed_in(browser, kobe.url, kobe.token) as (_, page):
        await page.get_by_role("link", name="警告", exact=True).click()
        await expect(page.locator("h1")).to_have_text("警告と受け取らなかった記録")
        alert = page.locator("#h-alerts + ul li").first
        await expect(alert).to_contain_text("mallory")
        await expect(alert).to_contain_text("同じ番号で中身の違う記録が2つ届きました")
        await expect(alert).to_contain_text("そのスペースの運営者に直接")
        await expect(alert.locator("details")).not_to_have_attribute("open", "")
        await expect(alert.locator(".detail")).to_be_hidden()
        refused = page.locator("#h-refused + ul")
        await expect(refused).to_contain_text("この連合の正しい形の記録ではありませんでした")
        await expect(refused).to_contain_text("何もしなくて大丈夫です")
        await page.get_by_role("link", name="English").click()
        await expect(page.locator("#h-alerts + ul li").first).to_contain_text(
            "That space sent two different records under the same number.")
        await page.locator("#h-refused + ul summary").first.click()
        await expect(page.locator("#h-refused + ul .detail").first).to_contain_text(":")


async def test_the_federation_map_draws_each_space_where_it_is_online_or_not_in_shape_and_words(
        kobe: Space, browser: Browser) -> None:
    """kobe (online) a filled dot west of sapporo (offline: hollow, "(offline)" in its label);
    the legend says which is which; mallory, who gave no location, is counted, not drawn."""
    async with signed_in(browser, kobe.url, kobe.token, locale="en-GB") as (_, page):
        await page.goto(kobe.url + "/federation")
        on, off = page.locator("#dot-kobe"), page.locator("#dot-sapporo")
        await expect(on).to_have_class(re.compile(r"\bon\b"))
        await expect(off).to_have_class(re.compile(r"\boff\b"))
        await expect(off.locator("text")).to_have_text("Sapporo Coworking (offline)")
        await expect(on.locator("text")).to_have_text("Kobe Coworking")
        fill = "el => getComputedStyle(el).fill"
        assert await off.locator("circle").evaluate(fill) == "rgb(255, 255, 255)"
        assert await on.locator("circle").evaluate(fill) != "rgb(255, 255, 255)"
        kx, ky = float(await on.locator("circle").get_attribute("cx") or 0), float(await on.locator("circle").get_attribute("cy") or 0)
        sx, sy = float(await off.locator("circle").get_attribute("cx") or 0), float(await off.locator("circle").get_attribute("cy") or 0)
        assert kx < sx and ky > sy  # Kobe lies south-west of Sapporo
        await expect(page.locator(".legend")).to_contain_text("online")
        await expect(page.locator(".map")).to_contain_text("1 space has not given its location yet")
        assert await page.locator("svg.japan g.dot").count() == 2


async def test_the_operator_places_the_space_on_the_map_from_the_my_space_form(kobe: Space, browser: Browser) -> None:
    """A latitude that is no number, then one coordinate without the other: each refused
    beside its field in Japanese, what was typed kept, nothing saved; both given, saved."""
    async with signed_in(browser, kobe.url, kobe.token) as (_, page):
        await page.goto(kobe.url + "/space")
        await expect(page.get_by_label("緯度")).to_have_value("34.69")
        await page.get_by_label("緯度").fill("北緯35度")
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator("#e-latitude")).to_contain_text("「緯度」")
        await expect(page.get_by_label("緯度")).to_have_value("北緯35度")
        await page.get_by_label("緯度").fill("35.01")
        await page.get_by_label("経度").fill("")
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator("#e-longitude")).to_contain_text("「経度」")
        await expect(page.get_by_label("緯度")).to_have_value("35.01")
        assert (await kobe.get("/api/spaces/kobe"))["latitude"] == 34.69
        await page.get_by_label("経度").fill("135.77")
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator(".notice")).to_be_visible()
        assert {k: (await kobe.get("/api/spaces/kobe"))[k] for k in ("latitude", "longitude")} == {
            "latitude": 35.01, "longitude": 135.77}
        await page.goto(kobe.url + "/federation")
        await expect(page.locator("#dot-kobe")).to_be_visible()
