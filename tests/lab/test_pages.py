"""The LAB's pages in a real browser (Debian's chromium, Playwright) against real nodes:
kobe's operator reads in Japanese, sapporo's in English; both keep a theme open, post
from their own space, and watch the other's post arrive without a reload."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Browser, expect

from node.bus.embedded import EmbeddedNats
from tests.eventually import eventually
from tests.lab.browsing import open_signed_in as _open
from tests.lab.browsing import shots as _shots
from tests.spaces import converged, spaces_for
from tests.web.browser import chromium


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_two_spaces_post_in_a_theme_and_each_sees_the_others_post_arrive_live_in_its_language(
        tmp_path: Path, nats_server: EmbeddedNats, browser: Browser) -> None:
    """kobe opens a theme from its LAB page (in Japanese); sapporo's operator (in English)
    opens it too. kobe posts: sapporo's open page shows it live; sapporo replies: kobe's
    open page shows the reply under kobe's post, live; kobe retracts its post (after the page
    that says what retracting does) and sapporo's page shows it retracted, live. An empty
    post is refused next to its field, in the operator's language, and nothing is posted.
    The theme's monthly meeting is an event."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await eventually(lambda: sapporo.get("/api/spaces/kobe"), timeout=30)
        soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=7)
        meeting = (await kobe.post("/api/events", {"title": "LAB月例オンライン会", "start": soon.isoformat(),
                                                    "end": (soon + dt.timedelta(hours=1)).isoformat()}))["id"]
        k_ctx, k, k_csp = await _open(browser, kobe, "ja-JP", "/lab")
        await expect(k.locator("h1")).to_have_text("LAB")
        await k.get_by_label("タイトル").fill("学生料金をどうする?")
        await k.get_by_label("問い").fill("学生の利用を増やすには?")
        await k.get_by_label("今月のオンラインミーティング").select_option(meeting)
        await k.get_by_role("button", name="テーマを立てる").click()
        await expect(k.locator("h1")).to_have_text("学生料金をどうする?")
        await expect(k.locator(".lab-meeting")).to_contain_text("LAB月例オンライン会")
        theme = k.url.rsplit("/", 1)[1]
        await eventually(lambda: sapporo.get(f"/api/lab/themes/{theme}"), timeout=30)

        s_ctx, s, s_csp = await _open(browser, sapporo, "en-GB", f"/lab/themes/{theme}")
        await expect(s.locator("h1")).to_have_text("学生料金をどうする?")
        await expect(s.locator("#h-discussion")).to_have_text("Discussion")
        await expect(k.locator("#h-discussion")).to_have_text("議論")
        await s.evaluate("window.sameDocument = true")

        await k.get_by_role("button", name="投稿する").click()  # empty: refused, in Japanese
        await expect(k.locator("#e-body")).to_contain_text("必須です")
        await expect(k.locator("p.error[role=alert]")).to_have_text("投稿されていません。下の印のついた項目を直してください。")
        await k.get_by_label("投稿", exact=True).fill("神戸では平日昼の学生割を試しました。")
        await k.get_by_role("button", name="投稿する").click()
        await expect(k.locator("#lab-discussion")).to_contain_text("神戸では平日昼の学生割を試しました。")
        await k.evaluate("window.sameDocument = true")

        await expect(s.locator("#lab-discussion")).to_contain_text("神戸では平日昼の学生割を試しました。", timeout=30_000)
        assert await s.evaluate("window.sameDocument === true"), "sapporo's page reloaded"
        await expect(s.locator("article[data-space=kobe] .lab-author")).to_have_text("Kobe Coworking")

        await s.locator("article[data-space=kobe]").get_by_role("link", name="Reply").click()
        await expect(s.locator("#h-write")).to_have_text("Write a reply")
        await s.get_by_label("Your post").fill("Sapporo does a student half-price day on Fridays.")
        await s.get_by_role("button", name="Post").click()
        await expect(s.locator(".lab-replies")).to_contain_text("Sapporo does a student half-price day on Fridays.")
        await s.evaluate("window.sameDocument = true")  # its own post reloaded it: from here on, live again

        await expect(k.locator(".lab-replies article[data-space=sapporo]")).to_contain_text(
            "Sapporo does a student half-price day on Fridays.", timeout=30_000)
        assert await k.evaluate("window.sameDocument === true"), "kobe's page reloaded"
        await _shots(k, shots, "theme-ja")
        await _shots(s, shots, "theme-en")

        await k.locator("article[data-space=kobe]").first.get_by_role("link", name="取り下げる…").first.click()
        await expect(k.locator("h1")).to_have_text("この投稿を取り下げる")
        await k.get_by_role("button", name="取り下げる", exact=True).click()
        await expect(k.locator("article[data-space=kobe]").first).to_contain_text("投稿者が取り下げました。")
        await expect(s.locator("article[data-space=kobe]").first).to_contain_text("Retracted by its author.", timeout=30_000)
        await expect(s.locator("#lab-discussion")).not_to_contain_text("神戸では平日昼の学生割を試しました。")
        assert await s.evaluate("window.sameDocument === true"), "sapporo's page reloaded"
        await k.get_by_role("button", name="議論を終了する").click()
        await expect(k.locator("main > p.muted").first).to_contain_text("議論は終了")
        await expect(k.locator("#write")).to_have_count(0)
        assert (await kobe.get(f"/api/lab/themes/{theme}"))["status"] == "closed"
        await s.get_by_role("link", name="LAB", exact=True).first.click()
        await expect(s.locator(f"#theme-{theme}")).to_contain_text("1 post, 0 reports")
        await _shots(s, shots, "themes-en")
        assert not k_csp and not s_csp, k_csp + s_csp
        await k_ctx.close()
        await s_ctx.close()


async def test_sapporo_reports_an_experiment_hides_a_post_and_undoes_it_and_finds_the_report_by_a_two_character_word(
        tmp_path: Path, nats_server: EmbeddedNats, browser: Browser) -> None:
    """sapporo's operator (in Japanese) writes a report with numbers from the form (a bad
    line is named next to its field, what was typed kept), hides kobe's post with its
    button and shows it again from "moderate my view", follows kobe's hides, and finds the
    report by 学生 on the search page; today shows the LAB's recent activity."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await eventually(lambda: sapporo.get("/api/spaces/kobe"), timeout=30)
        theme = (await kobe.post("/api/lab/themes", {"title": "学生料金をどうする?"}))["id"]
        post = (await kobe.post(f"/api/lab/themes/{theme}/posts", {"body": "神戸では平日昼の学生割を試しました。"}))["id"]
        await eventually(lambda: sapporo.get(f"/api/lab/posts/{post}"), timeout=30)
        ctx, s, csp = await _open(browser, sapporo, "ja-JP", f"/lab/themes/{theme}/report")
        await expect(s.locator("h1")).to_have_text("実験レポートを書く")
        await s.get_by_label("タイトル").fill("学生半額デー")
        await s.get_by_label("試したこと").fill("毎週金曜を学生半額にした。")
        await s.get_by_label("数字(1行に1つ:項目 = 値 単位)").fill("学生の来館 = 42 人\n稼働率 たくさん")
        await s.get_by_role("button", name="レポートを公開する").click()
        await expect(s.locator("#e-numbers")).to_contain_text("項目 = 値 単位")
        await expect(s.get_by_label("試したこと")).to_have_value("毎週金曜を学生半額にした。")
        await _shots(s, shots, "report-refused-ja")
        await s.get_by_label("数字(1行に1つ:項目 = 値 単位)").fill("学生の来館 = 42 人\n稼働率 = 61.5 %")
        await s.get_by_role("button", name="レポートを公開する").click()
        await expect(s.locator("#reports")).to_contain_text("学生の来館: 42 人")
        await expect(s.locator("#reports")).to_contain_text("稼働率: 61.5 %")

        kobes = s.locator(f"#post-{post}")
        await kobes.get_by_role("button", name="非表示にする").click()
        await expect(kobes).to_contain_text("このスペースでは非表示にしています。")
        assert [p["id"] for p in (await sapporo.get(f"/api/lab/themes/{theme}"))["posts"]] == []
        await converged([kobe, sapporo], timeout=60)  # kobe holds sapporo's label, and shows the post all the same
        assert [p["id"] for p in (await kobe.get(f"/api/lab/themes/{theme}"))["posts"]] == [post]

        await s.get_by_role("link", name="LAB", exact=True).first.click()
        await s.get_by_role("link", name="表示の管理").click()
        await expect(s.locator("h1")).to_have_text("表示の管理")
        await _shots(s, shots, "moderation-ja")
        await s.get_by_role("button", name="取り消す").click()
        await expect(s.locator("h1")).to_have_text("表示の管理")
        await expect(s.get_by_role("button", name="もう一度付ける")).to_be_visible()
        assert [p["id"] for p in (await sapporo.get(f"/api/lab/themes/{theme}"))["posts"]] == [post]
        await s.get_by_label("スペース", exact=True).select_option("kobe")
        await s.get_by_role("button", name="保存").click()
        await expect(s.locator(".notice")).to_be_visible()
        assert (await sapporo.get("/api/lab/follows"))["follows"][0]["labels"] == ["hide"]

        await s.goto(sapporo.url + "/lab/search?q=学生")
        await expect(s.locator(".lab-results")).to_contain_text("学生半額デー")
        await expect(s.locator(".lab-results")).to_contain_text("神戸では平日昼の学生割")
        await _shots(s, shots, "search-ja")
        await s.goto(sapporo.url + "/lab/search?q=映像")
        await expect(s.locator("main")).to_contain_text("見つかりませんでした。")
        await s.goto(sapporo.url + "/")
        await expect(s.locator("#panel-lab")).to_contain_text("学生半額デー")
        await expect(s.locator("#panel-lab")).to_contain_text("Kobe Coworking")
        await _shots(s, shots, "today-ja")
        assert not csp, csp
        await ctx.close()

