"""Notes between operators in a real browser: sapporo's operator writes to kobe from the
form (the space chosen from the directory), and kobe's open notes page shows it without a
reload; kobe replies with the form filled in for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from node.bus.embedded import EmbeddedNats
from tests.eventually import eventually
from tests.spaces import Space, spaces_for
from tests.web.browser import chromium, signed_in

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest_asyncio.fixture(loop_scope="module")
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Space, Space]]:
    async with EmbeddedNats(store_dir=tmp_path / "nats", name="kobe") as server:
        async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: server.client_url) as (kobe, sapporo):
            await kobe.request("PATCH", "/api/space", {"name_ja": "神戸コワーキング"})
            await eventually(lambda: kobe.space_version("sapporo"), timeout=30)
            await eventually(lambda: _version_at_least(sapporo, "kobe", 2), timeout=30)
            yield kobe, sapporo


async def _version_at_least(space: Space, of: str, version: int) -> bool:
    return await space.space_version(of) >= version


async def test_a_note_from_sapporo_appears_on_kobes_open_page_and_kobe_replies(
        pair: tuple[Space, Space], browser: Browser) -> None:
    """kobe keeps its notes page open. sapporo's operator sends without a message first
    (refused beside the field, the subject kept), then sends; the note appears at kobe with
    no reload. kobe's reply link opens the form addressed to sapporo, and the reply lands in
    sapporo's inbox."""
    kobe, sapporo = pair
    async with signed_in(browser, kobe.url, kobe.token) as (_, at_kobe), \
            signed_in(browser, sapporo.url, sapporo.token, locale="en-GB") as (_, at_sapporo):
        await at_kobe.get_by_role("link", name="メモ", exact=True).click()
        await expect(at_kobe.locator("#h-received")).to_contain_text("受け取ったメモ")
        await expect(at_kobe.locator("#notes-live")).to_contain_text("他のスペースからのメモはまだありません。")
        await at_kobe.evaluate("window.sameDocument = true")

        await at_sapporo.get_by_role("link", name="Notes", exact=True).click()
        await at_sapporo.get_by_role("link", name="Write a note").click()
        await at_sapporo.get_by_label("To").select_option("kobe")
        await at_sapporo.get_by_label("Subject").fill("Joint Jelly in March")
        await at_sapporo.get_by_role("button", name="Send").click()
        await expect(at_sapporo.locator("#e-text")).to_contain_text("Message:")
        await expect(at_sapporo.get_by_label("Subject")).to_have_value("Joint Jelly in March")
        await expect(at_sapporo.get_by_label("To")).to_have_value("kobe")
        await at_sapporo.get_by_label("Message").fill("Shall we hold it on the same evening?\n会場費は折半で。")
        await at_sapporo.get_by_role("button", name="Send").click()
        await expect(at_sapporo.locator(".notice")).to_contain_text("Only that space can read it.")
        await expect(at_sapporo.locator("#h-sent")).to_contain_text("(1)")

        received = at_kobe.locator("#notes-live li", has_text="Joint Jelly in March")
        await expect(received).to_contain_text("会場費は折半で。", timeout=30_000)
        await expect(received).to_contain_text("Sapporo Coworkingから")
        assert await at_kobe.evaluate("window.sameDocument === true")

        await received.get_by_role("link", name="Sapporo Coworkingに返信").click()
        await expect(at_kobe.get_by_label("宛先")).to_have_value("sapporo")
        await expect(at_kobe.get_by_label("件名")).to_have_value("Re: Joint Jelly in March")
        await at_kobe.get_by_label("本文").fill("ぜひ!")
        await at_kobe.get_by_role("button", name="送信").click()
        await expect(at_kobe.locator("#h-sent")).to_contain_text("(1)")

        await at_sapporo.goto(sapporo.url + "/notes")
        await expect(at_sapporo.locator("#notes-live li", has_text="Re: Joint Jelly in March")).to_contain_text(
            "from Kobe Coworking", timeout=30_000)
