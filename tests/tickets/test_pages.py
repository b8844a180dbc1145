"""The tickets pages in Debian's chromium (Playwright), against two real nodes on one
nats-server: kobe's operator issues a ticket and prints it (its QR code and text, the
page's chrome hidden in print); sapporo's operator pastes the text and the guest is
welcome; the same text again is shown as already redeemed at sapporo, an altered one is
refused next to the field; kobe's list then says where its ticket went. In Japanese."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Browser, expect

from node.bus.embedded import EmbeddedNats
from tests.eventually import eventually
from tests.spaces import HttpError, Space, spaces_for
from tests.tickets.desk import signed_in
from tests.web.browser import LAPTOP, PHONE, chromium


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_kobe_issues_and_prints_a_ticket_sapporo_redeems_it_once_and_a_second_time_is_refused(
        tmp_path: Path, nats_server: EmbeddedNats, browser: Browser) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        async def knows() -> bool:
            try:
                await sapporo.get("/api/spaces/kobe")
            except HttpError:
                return False
            return True

        await eventually(knows, timeout=30)
        violations: list[str] = []
        kctx, kpage = await signed_in(browser, kobe)
        kpage.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        await kpage.get_by_label("有効日数").fill("30")
        await kpage.get_by_label("自分用のメモ(印刷されません。個人情報は書かないでください)").fill("オープンデー")
        await kpage.get_by_role("button", name="発行して印刷する").click()

        # the printable ticket: a QR code and the text under it
        await expect(kpage.locator("h1")).to_have_text("共通チケット:1日無料")
        await expect(kpage.locator("figure.qr svg")).to_be_visible()
        text = (await kpage.locator("#ticket-text").inner_text()).strip()
        assert text.startswith("HT1:")
        await kpage.screenshot(path=str(shots / "ticket-1280.png"), full_page=True)
        async with kpage.expect_download() as fetching:
            await kpage.locator("#qr-png").click()
        png = Path(await (await fetching.value).path())
        assert png.read_bytes().startswith(b"\x89PNG")
        await kpage.emulate_media(media="print")
        await expect(kpage.locator("header.top")).to_be_hidden()
        await expect(kpage.locator("figure.qr svg")).to_be_visible()
        pdf = await kpage.pdf(path=str(shots / "ticket.pdf"))
        assert pdf.startswith(b"%PDF")
        await kpage.emulate_media(media="screen")
        await kpage.set_viewport_size(PHONE)
        assert await kpage.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await kpage.screenshot(path=str(shots / "ticket-390.png"), full_page=True)
        await kpage.set_viewport_size(LAPTOP)

        sctx, spage = await signed_in(browser, sapporo)
        await spage.set_viewport_size(PHONE)
        field = spage.get_by_label("チケットの文字列(QR コードの下に印刷されています)")
        # an altered text: refused next to the field, the text kept for correction
        altered = text[:-3] + ("A" if text[-3] != "A" else "B") + text[-2:]
        await field.fill(altered)
        await spage.get_by_role("button", name="使用する", exact=True).click()
        await expect(spage.locator("#e-ticket")).to_be_visible()
        await expect(spage.locator("#f-ticket")).to_have_attribute("aria-invalid", "true")
        await expect(spage.locator("#f-ticket")).to_have_value(altered)

        await spage.get_by_label("チケットの文字列(QR コードの下に印刷されています)").fill(text)
        await spage.get_by_role("button", name="使用する", exact=True).click()
        await expect(spage.locator("#redeem-result")).to_have_text("使用できました。お客さまをお迎えください!")
        await expect(spage.locator("#redeem-result")).to_have_attribute("data-state", "redeemed")
        await spage.screenshot(path=str(shots / "redeemed-390.png"), full_page=True)
        assert await spage.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        await spage.get_by_label("チケットの文字列(QR コードの下に印刷されています)").fill(text)
        await spage.get_by_role("button", name="使用する", exact=True).click()
        result = spage.locator("#redeem-result")
        await expect(result).to_have_attribute("data-state", "taken")
        await expect(result).to_contain_text("sapporo で使用済みです。もう一度は使えません。")
        assert await spage.locator("tr[data-state=redeemed]").count() == 1
        assert await spage.locator("tr[data-state=taken]").count() == 1

        # kobe's list learns where its ticket went (from sapporo's audit record)
        async def redeemed_at_kobe() -> bool:
            await kpage.goto(kobe.url + "/tickets")
            return await kpage.locator("tr[data-state=redeemed]").count() == 1

        await eventually(redeemed_at_kobe, timeout=30, interval=0.5)
        await expect(kpage.locator("tr[data-state=redeemed] td").nth(3)).to_contain_text("sapporo で使用済み")
        assert (await kpage.title()).startswith("チケット · kobe"), await kpage.title()
        assert await kpage.locator("script:not([src])").count() == 0
        assert not violations, violations
        await kctx.close()
        await sctx.close()
