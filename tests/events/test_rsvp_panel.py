"""The today page's RSVPs panel (issue 18): the operator sees who signed up for this
space's coming events, newest first, who waits for a seat, in Japanese and in English."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from node.bus.embedded import EmbeddedNats
from tests.events.operator import knows, operator
from tests.eventually import eventually
from tests.spaces import Space, spaces_for


@pytest_asyncio.fixture
async def kobe(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Space]:
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (space,):
        yield space


def _soon(hours: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).isoformat()


async def test_kobes_today_page_lists_sign_ups_and_the_waitlist_of_its_events(kobe: Space) -> None:
    """Two members sign up for a one-seat Jelly: the first is seated, the second waits; the
    panel names the one who shares a name and not the one who does not."""
    jelly = await kobe.post("/api/events", {"title": "ジェリー会", "start": _soon(30), "end": _soon(33), "capacity": 1})
    aiko = await kobe.post("/api/members", {"name": "青木 愛子", "share_name": True})
    ken = await kobe.post("/api/members", {"name": "Ken Private"})
    async with operator(kobe, "ja") as op:
        assert "これからのイベントへの申し込みはまだありません。" in await op.page("/")
        await kobe.post(f"/api/events/{jelly['id']}/rsvps", {"member": aiko["id"]})
        await kobe.post(f"/api/events/{jelly['id']}/rsvps", {"member": ken["id"]})
        html = await op.page("/")
        panel = html[html.index('id="panel-rsvps"'):]
        assert "青木 愛子" in panel and "参加確定" in panel and "キャンセル待ち" in panel
        assert "キャンセル待ちは 1 人です。" in panel
        # kobe's own members are kobe's to name on its own page
        assert "Ken Private" in panel
        assert panel.index("Ken Private") < panel.index("青木 愛子")  # newest first
    async with operator(kobe, "en") as op:
        panel = (await op.page("/")).split('id="panel-rsvps"')[1]
        assert "1 person is on a waitlist." in panel and "seat confirmed" in panel


async def test_sapporo_signs_a_member_up_while_kobe_is_offline_and_today_shows_the_wait_until_kobe_answers(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """kobe's event is known at sapporo; kobe goes offline; sapporo signs Haru up: sapporo's
    today lists Haru as waiting for kobe's answer. kobe comes back, decides, answers: the
    wait is gone from sapporo's today, and kobe's today lists the sign-up."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await eventually(lambda: knows(sapporo, "kobe"), timeout=60)
        jelly = await kobe.post("/api/events", {"title": "ジェリー会", "start": _soon(30), "end": _soon(33)})

        async def arrived() -> bool:
            return any(e["id"] == jelly["id"] for e in (await sapporo.get("/api/events?space=kobe"))["events"])

        await eventually(arrived, timeout=60)
        await kobe.stop()
        haru = await sapporo.post("/api/members", {"name": "Haru Sato", "share_name": True})
        await sapporo.post(f"/api/events/{jelly['id']}/rsvps", {"member": haru["id"]})
        async with operator(sapporo, "en") as op:
            panel = (await op.page("/")).split('id="panel-rsvps"')[1].split("</section>")[0]
            assert "Our members waiting for an answer" in panel and "Haru Sato" in panel and "Kobe Coworking" in panel
            await kobe.start()

            async def answered() -> bool:
                html = (await op.page("/")).split('id="panel-rsvps"')[1].split("</section>")[0]
                return "Our members waiting for an answer" not in html

            await eventually(answered, timeout=90, interval=0.5)
        async with operator(kobe, "ja") as op:
            assert "Haru Sato" in (await op.page("/")).split('id="panel-rsvps"')[1]
