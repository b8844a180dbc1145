"""The members pages in a real browser: the operator adds and edits members in Japanese,
an error is said next to its field with what was typed kept, and the page says what
leaves the node. A listener on every subject of the bus proves it: the name goes to the
host only once the member agreed, and the e-mail and skills never."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
import pytest_asyncio
from nats.aio.msg import Msg
from playwright.async_api import Browser, expect

from node.bus.embedded import EmbeddedNats
from tests.eventually import eventually
from tests.spaces import Space, spaces_for
from tests.web.browser import chromium, signed_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

NAME, EMAIL, SKILL = "佐藤 みどり", "midori.sato@example.jp", "映像編集"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest_asyncio.fixture(loop_scope="module")
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Space, Space, list[bytes]]]:
    """kobe and sapporo on one server, and every message the server carries meanwhile."""
    async with EmbeddedNats(store_dir=tmp_path / "nats", name="kobe") as server:
        seen: list[bytes] = []
        nc = await nats.connect(server.client_url)

        async def keep(msg: Msg) -> None:
            seen.append(msg.subject.encode() + b" " + msg.data)

        await nc.subscribe(">", cb=keep)
        try:
            async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: server.client_url) as (kobe, sapporo):
                await eventually(lambda: kobe.space_version("sapporo"), timeout=30)
                yield kobe, sapporo, seen
        finally:
            await nc.close()


async def _attendee(sapporo: Space, event_id: str) -> dict[str, object]:
    (row,) = (await sapporo.get(f"/api/events/{event_id}"))["attendees"]
    return dict(row)


async def test_kobe_adds_a_member_and_only_her_consent_lets_her_name_reach_sapporo(
        pair: tuple[Space, Space, list[bytes]], browser: Browser) -> None:
    """Add a member from the page (name not shared); a bad e-mail is refused beside its
    field in Japanese with the rest kept; the list says "番号のみ". Her RSVP to a sapporo
    event reaches sapporo with no name. Ticking the box on her page and RSVPing again, her
    name reaches sapporo. Nothing on the bus ever holds her e-mail or skills."""
    kobe, sapporo, seen = pair
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    event = await sapporo.post("/api/events", {"title": "札幌もくもく会", "start": start.isoformat(),
                                               "end": (start + dt.timedelta(hours=2)).isoformat()})
    async with signed_in(browser, kobe.url, kobe.token) as (_, page):
        await page.get_by_role("link", name="メンバー", exact=True).click()
        await expect(page.locator("#h-privacy")).to_have_text("メンバーについて他のスペースに伝わること")
        await page.get_by_role("link", name="メンバーを追加").click()
        await page.get_by_label("名前", exact=True).fill(NAME)
        await page.get_by_label("メールアドレス").fill("midori at example")
        await page.get_by_label("スキル", exact=True).fill(f"{SKILL}、写真")
        await page.get_by_role("button", name="追加").click()
        await expect(page.locator("#e-email")).to_contain_text("メールアドレス")
        await expect(page.locator("#f-email")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#f-name")).to_have_value(NAME)
        await expect(page.locator("#f-skills")).to_have_value(f"{SKILL}、写真")
        await expect(page.locator("#f-share_name")).not_to_be_checked()
        await page.locator("#f-email").fill(EMAIL)
        await page.get_by_role("button", name="追加").click()
        await expect(page.locator(".notice")).to_contain_text(NAME)
        row = page.locator("tr", has_text=NAME)
        await expect(row).to_contain_text("番号のみ")
        await expect(row).to_contain_text(f"{SKILL}, 写真")
        member = next(m for m in (await kobe.get("/api/members"))["members"] if m["name"] == NAME)
        assert member["skills"] == [SKILL, "写真"] and member["email"] == EMAIL and not member["share_name"]

        await kobe.post(f"/api/events/{event['id']}/rsvps", {"member": member["id"]})
        first = await eventually(lambda: _attendee(sapporo, event["id"]), timeout=30)
        assert first["display_name"] == ""

        await row.get_by_role("link", name=NAME).click()
        await expect(page.locator("h1")).to_have_text(NAME)
        await expect(page.locator("main")).to_contain_text(str(first["member"]))  # the code sapporo knows her by
        await page.get_by_label("この名前を他のスペースに見せる").check()
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator(".notice")).to_have_text("保存しました。")
        await expect(page.locator("#f-share_name")).to_be_checked()

    await kobe.post(f"/api/events/{event['id']}/rsvps", {"member": member["id"], "cancel": True})
    await kobe.post(f"/api/events/{event['id']}/rsvps", {"member": member["id"]})

    async def named() -> bool:
        return (await _attendee(sapporo, event["id"]))["display_name"] == NAME

    await eventually(named, timeout=30)
    assert seen, "the listener saw nothing: it proves nothing"
    for secret in (EMAIL, SKILL, "写真"):
        assert not [m for m in seen if secret.encode() in m], f"{secret!r} was on the bus"
