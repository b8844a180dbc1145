"""Redeeming a common ticket with the desk's camera, in Debian's chromium against two real nodes
on one nats-server: kobe's operator issues and prints a ticket; a picture of the QR code as
the printed page shows it goes to chromium's fake camera (a Y4M still); sapporo's operator
presses "scan", and the scanned text fills the redeem form and submits it as a paste would.
The ticket is redeemed once; scanned again it is refused as already redeemed. A desk whose
browser may not use the camera, or that has none, is told so in Japanese, and pasting works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import expect

from node.bus.embedded import EmbeddedNats
from tests.eventually import eventually
from tests.spaces import HttpError, Space, spaces_for
from tests.tickets.desk import signed_in
from tests.web.browser import PHONE, chromium, overflow, screenshot
from tests.web.camera import camera_chromium, y4m_of_png, y4m_of_qr

FIELD = "チケットの文字列(QR コードの下に印刷されています)"
SCAN = "カメラで読み取る"
WELCOME = "使用できました。お客さまをお迎えください!"


@pytest_asyncio.fixture
async def pair(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[tuple[Space, Space]]:
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        async def knows() -> bool:
            try:
                await sapporo.get("/api/spaces/kobe")
            except HttpError:
                return False
            return True

        await eventually(knows, timeout=60, interval=0.2)
        yield kobe, sapporo


async def test_sapporos_desk_scans_a_ticket_kobe_printed_it_is_redeemed_once_and_a_second_scan_is_refused(
        pair: tuple[Space, Space], tmp_path: Path) -> None:
    kobe, sapporo = pair
    violations: list[str] = []
    video = tmp_path / "ticket.y4m"
    async with chromium() as plain:
        kctx, kpage = await signed_in(plain, kobe, camera=False, violations=violations)
        await kpage.get_by_label("有効日数").fill("30")
        await kpage.get_by_role("button", name="発行して印刷する").click()
        await expect(kpage.locator("h1")).to_have_text("共通チケット:1日無料")
        text = (await kpage.locator("#ticket-text").inner_text()).strip()
        # the camera sees the code as the printed page shows it
        await kpage.emulate_media(media="print")
        y4m_of_png(await kpage.locator("figure.qr svg").screenshot(), video)
        await kctx.close()

    async with camera_chromium(video, ask=True) as browser:
        sctx, spage = await signed_in(browser, sapporo, camera=True, violations=violations)
        await spage.set_viewport_size(PHONE)
        scan = spage.get_by_role("button", name=SCAN)
        await expect(scan).to_be_visible()
        await scan.click()
        result = spage.locator("#redeem-result")
        await expect(result).to_have_attribute("data-state", "redeemed", timeout=30_000)
        await expect(result).to_have_text(WELCOME)
        await expect(spage.get_by_label(FIELD)).to_have_value("")
        await expect(spage.locator("tr[data-state=redeemed]")).to_have_count(1)
        assert await overflow(spage) <= 0

        # the same ticket in front of the camera again: refused, where and when it was used
        await spage.get_by_role("button", name=SCAN).click()
        await expect(result).to_have_attribute("data-state", "taken", timeout=30_000)
        await expect(result).to_contain_text("sapporo で使用済みです。もう一度は使えません。")
        await expect(spage.locator("tr[data-state=redeemed]")).to_have_count(1)
        await expect(spage.locator("tr[data-state=taken]")).to_have_count(1)
        await screenshot(spage, "/tickets/scanned-twice", "ja", PHONE["width"])
        await sctx.close()

    here = (await sapporo.get("/api/tickets"))["redeemed_here"]
    assert sorted(a["state"] for a in here) == ["redeemed", "taken"]
    assert {a["ticket"] for a in here} == {(await kobe.get("/api/tickets"))["issued"][0]["id"]}

    async def used_at_sapporo() -> bool:
        issued = (await kobe.get("/api/tickets"))["issued"]
        return [(i["text"], i["state"], i["redeemed_by"]) for i in issued] == [(text, "redeemed", "sapporo")]

    await eventually(used_at_sapporo, timeout=30, interval=0.5)
    assert not violations, violations


async def test_a_desk_whose_browser_may_not_use_the_camera_is_told_so_and_redeems_by_paste(
        pair: tuple[Space, Space], tmp_path: Path) -> None:
    kobe, sapporo = pair
    violations: list[str] = []
    ticket = await kobe.post("/api/tickets", {"valid_days": 30, "note": ""})
    video = tmp_path / "ticket.y4m"
    y4m_of_qr(ticket["text"], video)
    async with camera_chromium(video, ask=True) as browser:  # a camera, but the browser's question is refused
        sctx, spage = await signed_in(browser, sapporo, camera=False, violations=violations)
        await spage.get_by_role("button", name=SCAN).click()
        await expect(spage.locator("#f-ticket-scan-status")).to_have_text(
            "ブラウザーにカメラの使用が許可されていません。ブラウザーの設定で許可するか、チケットの文字列を貼り付けてください。")
        await expect(spage.locator("#f-ticket-video")).to_be_hidden()
        await expect(spage.locator("#redeem-result")).to_have_count(0)
        field = spage.get_by_label(FIELD)
        await expect(field).to_be_focused()
        await screenshot(spage, "/tickets/camera-refused", "ja", 1280)
        await field.fill(ticket["text"])
        await spage.get_by_role("button", name="使用する", exact=True).click()
        await expect(spage.locator("#redeem-result")).to_have_text(WELCOME)
        await expect(spage.locator("#redeem-result")).to_have_attribute("data-state", "redeemed")
        await sctx.close()
    assert not violations, violations


async def test_a_desk_with_no_camera_is_told_so_and_redeems_by_paste(pair: tuple[Space, Space]) -> None:
    kobe, sapporo = pair
    violations: list[str] = []
    ticket = await kobe.post("/api/tickets", {"valid_days": 30, "note": ""})
    async with chromium() as browser:  # no capture device at all
        sctx, spage = await signed_in(browser, sapporo, camera=True, violations=violations)
        await spage.get_by_role("button", name=SCAN).click()
        await expect(spage.locator("#f-ticket-scan-status")).to_have_text(
            "この端末にはカメラが見つかりませんでした。チケットの文字列を貼り付けてください。")
        await spage.get_by_label(FIELD).fill(ticket["text"])
        await spage.get_by_role("button", name="使用する", exact=True).click()
        await expect(spage.locator("#redeem-result")).to_have_attribute("data-state", "redeemed")
        await sctx.close()
    assert not violations, violations
