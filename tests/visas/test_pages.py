"""The visa pages in Debian's chromium (Playwright) against real nodes: kobe's operator issues
a pass and revokes another; sapporo's operator checks a kobe visitor in by pasting the pass,
and another by showing its QR code to a fake camera (chromium's fake video capture, fed a
Y4M file made from the pass's segno QR code), checks them out, refuses a cut-off pass with
the reason next to the field, and reads the settlement page, its chart and its CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.eventually import eventually
from tests.spaces import Space
from tests.visas.conftest import MEMBER
from tests.web.browser import LAPTOP, PHONE
from tests.web.camera import camera_chromium, y4m_of_qr


async def signed_in(browser: Browser, space: Space, locale: str = "en-GB") -> tuple[BrowserContext, Page]:
    context = await browser.new_context(locale=locale, viewport=LAPTOP, accept_downloads=True)
    await context.grant_permissions(["camera"], origin=space.url)
    page = await context.new_page()
    await page.goto(space.url + "/signin")
    await page.locator("#token").fill(space.token)
    await page.locator("form[action='/signin'] button[type=submit]").click()
    await page.wait_for_url(space.url + "/")
    return context, page


async def test_operators_issue_revoke_check_in_by_paste_and_camera_and_settle(
        pair: tuple[Space, Space], tmp_path: Path) -> None:
    kobe, sapporo = pair
    hanako = await kobe.post("/api/members", {**MEMBER, "share_name": True})
    taro = await kobe.post("/api/members", {"name": "鈴木 太郎", "email": "taro@example.jp", "share_name": False})
    camera_pass = await kobe.post(f"/api/members/{taro['id']}/passes", {"days": 30})
    video = tmp_path / "qr.y4m"
    y4m_of_qr(camera_pass["text"], video)
    csp: list[str] = []

    async with camera_chromium(video) as browser:
        # kobe: issue a pass for Hanako, then a second one, and revoke the first.
        _, desk = await signed_in(browser, kobe)
        desk.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
        await desk.goto(kobe.url + "/passes")
        await desk.get_by_role("link", name=MEMBER["name"]).click()
        await desk.get_by_role("button", name="Issue a pass").click()
        await expect(desk.locator("#qr svg")).to_be_visible()
        first = await desk.locator("#pass-text").text_content()
        assert first and first.startswith("HV1:")
        await desk.get_by_role("button", name="Issue a pass").click()
        await expect(desk.locator("#passes tbody tr")).to_have_count(2)
        second = await desk.locator("#pass-text").text_content()
        assert second and second != first
        await desk.locator("#passes tbody tr").nth(1).get_by_role("button", name="Revoke").click()
        await expect(desk.locator("#passes tbody tr").nth(1).locator(".state")).to_have_text("revoked")
        await expect(desk.locator("#passes tbody tr").nth(0).locator(".state")).to_have_text("valid")
        async with desk.expect_download() as png:
            await desk.get_by_role("link", name="Download the code (PNG)").click()
        assert (await (await png.value).path()).read_bytes().startswith(b"\x89PNG")

        # sapporo's operator sets its visa policy on "my space", in Japanese: a typo is
        # marked next to its field and nothing is saved; then it saves.
        _, ja = await signed_in(browser, sapporo, locale="ja-JP")
        await ja.goto(sapporo.url + "/space")
        await ja.get_by_label("来訪者1人あたりの月の無料日数").fill("たくさん")
        await ja.get_by_label("ビザを受け入れるスペース").fill("kobe, hakodate")
        await ja.get_by_role("button", name="保存").click()
        await expect(ja.locator("#e-free_days_per_month")).to_contain_text("0から31までの整数")
        await expect(ja.get_by_label("ビザを受け入れるスペース")).to_have_value("kobe, hakodate")
        await ja.get_by_label("来訪者1人あたりの月の無料日数").fill("5")
        await ja.get_by_label("所属スペースに確認できるまでお断りする").check()
        await ja.get_by_role("button", name="保存").click()
        await expect(ja.locator(".notice")).to_be_visible()
        policy = (await sapporo.get("/api/spaces/sapporo"))["visa_policy"]
        assert policy == {"accepts_visas": True, "accepts_from": ["kobe", "hakodate"], "free_days_per_month": 5,
                          "notice_hours": 0, "when_home_unreachable": "refuse"}
        await ja.goto(sapporo.url + "/visits")
        await expect(ja.locator("h1")).to_have_text("来訪")
        await ja.screenshot(path=str(tmp_path / "sapporo-visits-ja.png"), full_page=True)

        # sapporo: a cut-off pass is refused, the reason next to the field, the text kept.
        _, front = await signed_in(browser, sapporo)
        front.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
        await front.goto(sapporo.url + "/visits")
        assert second is not None
        await front.get_by_label("Visa pass (paste its text, or scan its QR code)").fill(second[:30])
        await front.get_by_role("button", name="Check in", exact=True).click()
        await expect(front.locator("#e-pass")).to_contain_text("not a visa pass")
        await expect(front.locator("#f-pass")).to_have_value(second[:30])

        # Pasted: Hanako checks in, shows under "Here now" with her shared name.
        await front.get_by_label("Visa pass (paste its text, or scan its QR code)").fill(second)
        await front.get_by_role("button", name="Check in", exact=True).click()
        await expect(front.locator("#checked-in")).to_be_visible()
        await expect(front.locator("#here-now")).to_contain_text(MEMBER["name"])

        # Scanned: Taro's QR code on the fake camera; no name shown (he does not share it).
        await front.get_by_role("button", name="Scan with the camera").click()
        await expect(front.locator("#checked-in")).to_be_visible(timeout=30_000)
        await expect(front.locator("#here-now tbody tr")).to_have_count(2)
        await expect(front.locator("#here-now")).to_contain_text("a member who does not share their name")

        await front.goto(sapporo.url + "/")  # the today page's panel shows them too
        await expect(front.locator("#panel-visitors li")).to_have_count(2)
        await expect(front.locator("#panel-visitors")).to_contain_text(MEMBER["name"])
        await front.goto(sapporo.url + "/visits")
        for _ in range(2):
            await front.locator("#here-now tbody tr").first.get_by_role("button", name="Check out").click()
        await expect(front.locator("#here-now")).to_have_count(0)
        await expect(front.locator("#books-hosted tbody tr")).to_have_count(2)

        # The settlement page, its chart and its CSV.
        async def confirmed() -> bool:
            got = await sapporo.get("/api/settlement")
            return bool(got["partners"]) and got["agreed"]

        await eventually(confirmed, timeout=60)
        await front.goto(sapporo.url + "/settlement")
        row = front.locator("#settlement tbody tr")
        await expect(row).to_have_count(1)
        await expect(row.locator("td").nth(0)).to_have_text("kobe")
        await expect(row.locator("td").nth(1)).to_have_text("2")
        await expect(row.locator("td").nth(5)).to_contain_text("agreed")
        await expect(row.locator("td").nth(5)).to_contain_text("Their books show the same visits.")
        month = (await sapporo.get("/api/settlement"))["month"]
        bars = front.locator(".chart-wrap svg rect title")
        await expect(bars.filter(has_text=f"kobe {month}: in (visitors hosted here) 2")).to_have_count(1)
        async with front.expect_download() as dl:
            await front.get_by_role("link", name="Download as CSV").click()
        rows = list(csv.DictReader(io.StringIO((await (await dl.value).path()).read_text())))
        assert [(r["partner"], r["visits_in"], r["days_in"]) for r in rows] == [("kobe", "2", "2")]

        # The directory shows, per space, the visas it says it honoured (a count only).
        async def published() -> bool:
            got = (await kobe.get("/api/visas/honoured", auth=False))["spaces"]
            return any(s["space"] == "sapporo" and s["total"] == 2 for s in got)

        await eventually(published, timeout=30)
        await desk.goto(kobe.url + "/federation")
        honoured = desk.locator("#panel-honoured tbody tr")
        await expect(honoured).to_have_count(1)
        await expect(honoured.locator("td").first).to_have_text("sapporo")
        await expect(honoured.locator("td").last).to_have_text("2")

        # kobe's books show both visits, under its own members.
        await desk.goto(kobe.url + "/visits")
        await expect(desk.locator("#books-sent tbody tr")).to_have_count(2, timeout=30_000)
        await desk.screenshot(path=str(tmp_path / "kobe-visits.png"), full_page=True)
        await front.screenshot(path=str(tmp_path / "sapporo-settlement.png"), full_page=True)

        # At a phone's width nothing is wider than the window (the chart scrolls in its box).
        for page, url in ((front, sapporo.url + "/settlement"), (front, sapporo.url + "/visits"),
                          (desk, kobe.url + "/visits"), (desk, kobe.url + f"/members/{hanako['id']}/passes")):
            await page.set_viewport_size(PHONE)
            await page.goto(url)
            wide = await page.evaluate("document.documentElement.scrollWidth")
            assert wide <= PHONE["width"], f"{url} overflows at {PHONE['width']}px: {wide}px"
            await page.screenshot(path=str(tmp_path / f"phone-{url.rsplit('/', 1)[-1]}.png"), full_page=True)
    assert csp == []
    assert hanako["id"] != taro["id"]
