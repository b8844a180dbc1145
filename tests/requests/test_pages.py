"""The requests pages in Debian's chromium: kobe's operator posts a request through the form,
sapporo's operator sees the match among sapporo's members and sends the offer, and the
offer appears on kobe's open page without a reload; in Japanese and in English."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, expect

from node.bus.cluster import NatsCluster
from node.bus.embedded import EmbeddedNats
from tests.eventually import eventually
from tests.spaces import HttpError, Space, spaces_for
from tests.web.browser import LAPTOP, PHONE, chromium

WORDS = {
    "ja": {"post": "依頼を出す", "offer": "この会員を紹介する", "matches": "うちの会員で合いそうな人",
           "received": "届いた申し出", "accept": "選んだ申し出を受ける", "accepted": "受諾済み"},
    "en": {"post": "Post the request", "offer": "Offer this member", "matches": "Matches among our members",
           "received": "Offers received", "accept": "Accept the chosen offers", "accepted": "Accepted"},
}


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def _signed_in(browser: Browser, space: Space, lang: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(locale="ja-JP" if lang == "ja" else "en-US", viewport=LAPTOP)
    page = await context.new_page()
    await page.goto(space.url + "/signin")
    await page.locator("#token").fill(space.token)
    await page.locator("form[action='/signin'] button[type=submit]").click()
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    return context, page


async def _fits(page: Page, out: Path, name: str) -> None:
    for label, size in (("390", PHONE), ("1280", LAPTOP)):
        await page.set_viewport_size(size)
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= size["width"], f"{name} overflows at {label}px: {wide}px"
        await page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_kobe_posts_sapporo_offers_and_kobe_sees_the_offer_arrive_live(
    tmp_path: Path, nats_cluster: NatsCluster, browser: Browser, lang: str
) -> None:
    words = WORDS[lang]
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo = spaces
        helper = await sapporo.post("/api/members", {"name": "札幌 一郎", "share_name": True, "skills": ["Web 制作"],
                                                     "shared_skills": ["Web 制作"]})
        await eventually(lambda: sapporo.space_version("kobe"), timeout=30)
        await eventually(lambda: kobe.space_version("sapporo"), timeout=30)
        k_ctx, k_page = await _signed_in(browser, kobe, lang)
        violations: list[str] = []
        k_page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        await k_page.goto(kobe.url + "/requests")
        await k_page.locator("#f-title").fill("ウェブサイト制作を手伝ってくれる人")
        await k_page.locator("#f-skills").fill("ｳｪﾌﾞ制作")
        await k_page.locator("#f-deadline").fill((dt.datetime.now() + dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M"))
        await k_page.locator("#f-kind").select_option("help")
        await k_page.get_by_role("button", name=words["post"], exact=True).click()
        await expect(k_page.locator("h1")).to_have_text("ウェブサイト制作を手伝ってくれる人")
        request_id = k_page.url.rsplit("/", 1)[1]
        await expect(k_page.locator("#h-offers")).to_have_text(words["received"])
        await k_page.evaluate("window.sameDocument = true")

        async def arrived() -> bool:
            try:
                return bool(await sapporo.get(f"/api/requests/{request_id}"))
            except HttpError:
                return False

        await eventually(arrived, timeout=30)
        s_ctx, s_page = await _signed_in(browser, sapporo, lang)
        await s_page.goto(sapporo.url + "/requests")
        await s_page.locator(f"#request-{request_id} a").click()
        await expect(s_page.locator("#h-matches")).to_have_text(words["matches"])
        await expect(s_page.locator(f"#match-{helper['id']}")).to_contain_text("札幌 一郎")
        await _fits(s_page, tmp_path, f"request-sapporo-{lang}")
        await s_page.locator(f"#msg-{helper['id']}").fill("お手伝いできます")
        await s_page.get_by_role("button", name=words["offer"]).click()
        await expect(s_page.locator("#offers")).to_contain_text("お手伝いできます")

        await expect(k_page.locator("#offers")).to_contain_text("札幌 一郎", timeout=30_000)
        await expect(k_page.locator("#offers")).to_contain_text("Web 制作")
        assert await k_page.evaluate("window.sameDocument === true")
        await _fits(k_page, tmp_path, f"request-kobe-{lang}")
        await k_page.locator("#offers input[type=checkbox]").check()
        await k_page.get_by_role("button", name=words["accept"]).click()
        await expect(k_page.locator("#offers")).to_contain_text(words["accepted"])
        assert not violations, violations
        await k_ctx.close()
        await s_ctx.close()


async def test_the_operator_shares_a_members_skill_and_edits_the_synonyms_so_a_request_matches(
    tmp_path: Path, nats_server: EmbeddedNats, browser: Browser
) -> None:
    """On the member's page the operator adds a skill, shares one of two and marks the member
    busy; /skills shows it; a request for "caricature" fits nobody until the operator puts
    caricature and 似顔絵 in one synonym group on /skills, after which the member matches."""
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (kobe,):
        m = await kobe.post("/api/members", {"name": "神戸 花子", "skills": ["会計"]})
        ctx, page = await _signed_in(browser, kobe, "ja")
        await page.goto(kobe.url + f"/members/{m['id']}")
        await page.get_by_label("スキル", exact=True).fill("会計\n似顔絵")
        await page.get_by_label("ほかのスペースに伝えてよいスキル").fill("会計")
        await page.get_by_label("稼働状況").select_option("busy")
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator(".notice")).to_have_text("保存しました。")
        got = await kobe.get(f"/api/members/{m['id']}")
        assert (got["skills"], got["shared_skills"], got["availability"]) == (["会計", "似顔絵"], ["会計"], "busy")
        await page.goto(kobe.url + "/skills")
        await expect(page.locator(f"#member-{m['id']}")).to_contain_text("会計 (共有)")
        await expect(page.locator(f"#member-{m['id']}")).to_contain_text("忙しい")
        req = await kobe.post("/api/requests", {"title": "イベントで似顔絵", "skills": ["caricature"],
                                                "deadline": (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()})
        assert (await kobe.get(f"/api/requests/{req['id']}/matches"))["matches"] == []
        box = page.locator("#f-synonyms")
        await box.fill((await box.input_value()) + "\ncaricature, 似顔絵, ポートレート")
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator(".notice")).to_have_text("保存しました。")
        found = (await kobe.get(f"/api/requests/{req['id']}/matches"))["matches"]
        assert [(x["member"], x["skills"]) for x in found] == [(m["id"], ["似顔絵"])]
        await ctx.close()
