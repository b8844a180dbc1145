"""Editing and retracting what a space wrote in the LAB, from the dashboard (Debian's
chromium, Playwright) against real nodes on one real nats-server: kobe's operator works in
Japanese, sapporo's reads in English; the edits federate as the API's do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from node.bus.embedded import EmbeddedNats
from tests.eventually import eventually
from tests.lab.scene import REPORT
from tests.lab.browsing import open_signed_in as _open
from tests.lab.browsing import shots as _shots
from tests.spaces import Space, spaces_for
from tests.web.browser import chromium


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def _written(kobe: Space, sapporo: Space) -> tuple[str, str]:
    """kobe's theme with kobe's post in it, both arrived at sapporo."""
    theme = (await kobe.post("/api/lab/themes", {"title": "学生料金をどうする?", "question": "学生の利用を増やすには?",
                                                  "tags": ["pricing"]}))["id"]
    post = (await kobe.post(f"/api/lab/themes/{theme}/posts", {"body": "神戸では平日昼の学生割を試しました。"}))["id"]
    await eventually(lambda: sapporo.get(f"/api/lab/posts/{post}"), timeout=30)
    return theme, post


@asynccontextmanager
async def _kobes_report(tmp_path: Path, nats_server: EmbeddedNats,
                        browser: Browser) -> AsyncIterator[tuple[Space, Space, str, Page]]:
    """kobe's theme, post and report, arrived at sapporo; kobe's operator on the theme's page, in Japanese."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await eventually(lambda: sapporo.get("/api/spaces/kobe"), timeout=30)
        theme, _ = await _written(kobe, sapporo)
        report = (await kobe.post(f"/api/lab/themes/{theme}/reports", REPORT))["id"]
        await eventually(lambda: sapporo.get(f"/api/lab/reports/{report}"), timeout=30)
        context, page, csp = await _open(browser, kobe, "ja-JP", f"/lab/themes/{theme}")
        yield kobe, sapporo, report, page
        assert not csp, csp
        await context.close()


async def _shown_at(space: Space, path: str, field: str, text: str) -> bool:
    return bool((await space.get(path))[field] == text)


async def _save(page: Page) -> None:
    await page.get_by_role("button", name="保存", exact=True).click()


async def test_kobe_edits_its_post_and_its_theme_from_the_pages_in_japanese_and_sapporo_sees_the_new_text(
        tmp_path: Path, nats_server: EmbeddedNats, browser: Browser) -> None:
    """kobe's operator presses 編集 beside kobe's post: the form holds the post's text; the
    new text is saved, marked edited, and reaches sapporo's open page live. Then the theme:
    an emptied title is refused beside its field in Japanese with what was typed kept and
    nothing changed; a new title is saved and sapporo shows it. sapporo's operator sees no
    Edit (nor Retract) on kobe's post, and the addresses of both lead sapporo back to the theme."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await eventually(lambda: sapporo.get("/api/spaces/kobe"), timeout=30)
        theme, post = await _written(kobe, sapporo)
        s_ctx, s, s_csp = await _open(browser, sapporo, "en-GB", f"/lab/themes/{theme}")
        await expect(s.locator(f"#post-{post}")).to_contain_text("神戸では平日昼の学生割を試しました。")
        await expect(s.locator(f"#post-{post}").get_by_role("link", name="Edit")).to_have_count(0)
        await expect(s.locator(f"#post-{post}").get_by_role("link", name="Retract…")).to_have_count(0)
        await expect(s.locator("main").get_by_role("link", name="Edit", exact=True)).to_have_count(0)
        await s.evaluate("window.sameDocument = true")

        k_ctx, k, k_csp = await _open(browser, kobe, "ja-JP", f"/lab/themes/{theme}")
        await k.locator(f"#post-{post}").get_by_role("link", name="編集").click()
        await expect(k.locator("h1")).to_have_text("投稿を編集")
        await expect(k.get_by_label("投稿", exact=True)).to_have_value("神戸では平日昼の学生割を試しました。")
        await _shots(k, shots, "edit-post-ja")
        await k.get_by_label("投稿", exact=True).fill("神戸では平日昼の学生割を試しました。\n(追記)利用は1.5倍に。")
        await _save(k)
        await expect(k.locator(".notice")).to_have_text("保存しました。まもなく他のスペースにも反映されます。")
        await expect(k.locator(f"#post-{post}")).to_contain_text("(追記)利用は1.5倍に。")
        await expect(k.locator(f"#post-{post}")).to_contain_text("(編集済み)")
        assert (await kobe.get(f"/api/lab/posts/{post}"))["version"] == 2

        await expect(s.locator(f"#post-{post}")).to_contain_text("(追記)利用は1.5倍に。", timeout=30_000)
        await expect(s.locator(f"#post-{post}")).to_contain_text("(edited)")
        assert await s.evaluate("window.sameDocument === true"), "sapporo's page reloaded"
        await s.goto(sapporo.url + f"/lab/posts/{post}/edit")  # kobe's post: no form at sapporo
        await expect(s.locator("h1")).to_have_text("学生料金をどうする?")
        await s.goto(sapporo.url + f"/lab/posts/{post}/retract")  # nor a retract page
        await expect(s.locator("h1")).to_have_text("学生料金をどうする?")
        assert (await sapporo.get(f"/api/lab/posts/{post}"))["version"] == 2

        await k.locator("#theme-actions").get_by_role("link", name="編集").click()
        await expect(k.locator("h1")).to_have_text("テーマを編集")
        await expect(k.get_by_label("タイトル")).to_have_value("学生料金をどうする?")
        await expect(k.get_by_label("タグ")).to_have_value("pricing")
        await k.get_by_label("タイトル").fill("   ")
        await k.get_by_label("問い").fill("学生と社会人の料金の差は?")
        await _save(k)
        await expect(k.locator("#e-title")).to_contain_text("必須です")
        await expect(k.get_by_label("タイトル")).to_have_attribute("aria-invalid", "true")
        await expect(k.locator("p.error[role=alert]")).to_have_text("保存されていません。下の印のついた項目を直してください。")
        await expect(k.get_by_label("問い")).to_have_value("学生と社会人の料金の差は?")
        await _shots(k, shots, "edit-theme-refused-ja")
        held = await kobe.get(f"/api/lab/themes/{theme}")
        assert (held["title"], held["question"], held["version"]) == ("学生料金をどうする?", "学生の利用を増やすには?", 1)

        await k.get_by_label("タイトル").fill("学生料金、どうしていますか?")
        await _save(k)
        await expect(k.locator("h1")).to_have_text("学生料金、どうしていますか?")
        await expect(k.locator("main")).to_contain_text("学生と社会人の料金の差は?")
        await eventually(lambda: _shown_at(sapporo, f"/api/lab/themes/{theme}", "title", "学生料金、どうしていますか?"),
                         timeout=30)
        await s.goto(sapporo.url + f"/lab/themes/{theme}")
        await expect(s.locator("h1")).to_have_text("学生料金、どうしていますか?")
        await expect(s.locator("main")).to_contain_text("学生と社会人の料金の差は?")
        assert (await sapporo.get(f"/api/lab/themes/{theme}"))["tags"] == ["pricing"]  # unchanged fields stay
        assert not k_csp and not s_csp, k_csp + s_csp
        await k_ctx.close()
        await s_ctx.close()


async def test_an_edit_made_meanwhile_through_the_api_is_not_overwritten_by_a_stale_form(
        tmp_path: Path, nats_server: EmbeddedNats, browser: Browser) -> None:
    """kobe's operator opens the report's edit form; meanwhile the report is edited through
    the API. Saving the form changes nothing and says so, in Japanese, what was typed kept;
    the current version opened again holds the API's change, and saving from it works. A
    badly written number is refused beside its field. The API's own If-Match guard: 412."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with _kobes_report(tmp_path, nats_server, browser) as (kobe, sapporo, report, k):
        await k.locator(f"#report-{report}").get_by_role("link", name="編集").click()
        await expect(k.locator("h1")).to_have_text("レポートを編集")
        numbers = k.get_by_label("数字(1行に1つ:項目 = 値 単位)")
        await expect(numbers).to_have_value("学生の来館 = 42 人\n稼働率 = 61.5 %")
        await expect(k.get_by_label("リンク(1行に1つ)")).to_have_value("https://sapporo.example.jp/lab/students")

        await kobe.request("PATCH", f"/api/lab/reports/{report}", {"cost": "チラシ代 5,000円"})  # meanwhile
        await k.get_by_label("かかった費用").fill("チラシ代 4,000円")
        await _save(k)
        await expect(k.locator("#e-version")).to_contain_text("保存していません")
        await expect(k.get_by_label("かかった費用")).to_have_value("チラシ代 4,000円")
        await _shots(k, shots, "edit-report-stale-ja")
        held = await kobe.get(f"/api/lab/reports/{report}")
        assert (held["cost"], held["version"]) == ("チラシ代 5,000円", 2)

        # A form that does not say which version it was read at (a hand-made one) is stale too.
        await k.get_by_role("link", name="最新の内容を開く").click()
        await k.locator("input[name=version]").evaluate("input => input.remove()")
        await k.get_by_label("かかった費用").fill("チラシ代 3,000円")
        await _save(k)
        await expect(k.locator("#e-version")).to_contain_text("保存していません")
        assert (await kobe.get(f"/api/lab/reports/{report}"))["cost"] == "チラシ代 5,000円"

        await k.get_by_role("link", name="最新の内容を開く").click()
        await expect(k.get_by_label("かかった費用")).to_have_value("チラシ代 5,000円")
        await numbers.fill("学生の来館 = 42 人\n稼働率 たくさん")
        await k.get_by_label("かかった費用").fill("チラシ代 4,000円")
        await _save(k)
        await expect(k.locator("#e-numbers")).to_contain_text("項目 = 値 単位")
        await expect(numbers).to_have_value("学生の来館 = 42 人\n稼働率 たくさん")
        await expect(k.get_by_label("かかった費用")).to_have_value("チラシ代 4,000円")
        assert (await kobe.get(f"/api/lab/reports/{report}"))["version"] == 2
        await numbers.fill("学生の来館 = 42 人\n稼働率 = 70 %")
        await _save(k)
        await expect(k.locator(f"#report-{report}")).to_contain_text("稼働率: 70 %")
        held = await kobe.get(f"/api/lab/reports/{report}")
        assert (held["cost"], held["version"], held["title"]) == ("チラシ代 4,000円", 3, REPORT["title"])
        await eventually(lambda: _shown_at(sapporo, f"/api/lab/reports/{report}", "cost", "チラシ代 4,000円"), timeout=30)

        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {kobe.token}"}) as http:
            async with http.get(kobe.url + f"/api/lab/reports/{report}") as r:
                assert r.headers["ETag"] == '"v3"'
            async with http.patch(kobe.url + f"/api/lab/reports/{report}", json={"cost": "無料"},
                                  headers={"If-Match": '"v2"'}) as r:
                assert r.status == 412, await r.text()
            async with http.patch(kobe.url + f"/api/lab/reports/{report}", json={"cost": "無料"},
                                  headers={"If-Match": '"v3"'}) as r:
                assert r.status == 200 and (await r.json())["version"] == 4


async def test_kobe_retracts_its_report_only_after_a_page_says_what_retracting_does(
        tmp_path: Path, nats_server: EmbeddedNats, browser: Browser) -> None:
    """取り下げる… leads to a page saying the text goes from every space; 取り下げない
    changes nothing; 取り下げる there retracts, and sapporo's page says so."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with _kobes_report(tmp_path, nats_server, browser) as (kobe, sapporo, report, k):
        await k.locator(f"#report-{report}").get_by_role("link", name="取り下げる…").click()
        await expect(k.locator("h1")).to_have_text("このレポートを取り下げる")
        await expect(k.locator("main")).to_contain_text("すべてのスペースから消えます")
        await _shots(k, shots, "retract-report-ja")
        await k.get_by_role("link", name="取り下げない").click()
        await expect(k.locator(f"#report-{report}")).to_contain_text("学生の来館: 42 人")
        assert (await kobe.get(f"/api/lab/reports/{report}"))["status"] == "posted"

        await k.locator(f"#report-{report}").get_by_role("link", name="取り下げる…").click()
        await k.get_by_role("button", name="取り下げる", exact=True).click()
        await expect(k.locator(f"#report-{report}")).to_contain_text("投稿者が取り下げました。")
        await expect(k.locator(f"#report-{report}").get_by_role("link", name="編集")).to_have_count(0)
        await eventually(lambda: _shown_at(sapporo, f"/api/lab/reports/{report}", "status", "retracted"), timeout=30)
        await k.goto(kobe.url + f"/lab/reports/{report}/edit")  # retracted: no form any more
        await expect(k.locator("h1")).to_have_text("学生料金をどうする?")
