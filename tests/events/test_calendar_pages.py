"""The calendar on the operator's dashboard (issue 18), over plain HTTP against a real node:
the month and list views with their filters, a joint event shown once with its parts, an
event's page, the form that creates and edits an event (each mistake next to its field, in
the operator's language, nothing typed lost), cancelling, signing a member up on their
behalf, and the .ics subscription address. The browser scenario is test_calendar_browser.py."""

from __future__ import annotations

import datetime as dt
import html as htmlmod
import re
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest_asyncio

from node.bus.embedded import EmbeddedNats
from tests.events.operator import operator
from tests.spaces import Space, spaces_for

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest_asyncio.fixture
async def kobe(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Space]:
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (space,):
        yield space


def _day(days: int, hour: int) -> dt.datetime:
    return (dt.datetime.now(TOKYO) + dt.timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def _text(html: str) -> str:
    return htmlmod.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


async def test_the_operator_creates_an_event_with_mistakes_corrected_field_by_field(kobe: Space) -> None:
    """A form with no title, an end before its start and a word for seats: nothing saved, three
    errors each next to its field in Japanese, what was typed still there; corrected, it
    is saved and its page shows it in the space's zone."""
    start = _day(10, 19)
    async with operator(kobe, "ja") as op:
        form = await op.page("/calendar/new")
        assert 'id="f-title"' in form and "Asia/Tokyo" in form
        typed = {"title": "", "start": start.strftime("%Y-%m-%dT%H:%M"), "end": (start - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                 "mode": "hybrid", "room": "2F ラウンジ", "url": "", "capacity": "たくさん", "tags": "jelly, " + "長" * 41,
                 "language": "ja", "description": "みんなで\r\n作業"}
        _, page = await op.form("/calendar/new", typed, status=422)
        errors = dict(re.findall(r'<p class="error" id="e-(\w+)">([^<]+)</p>', page))
        assert set(errors) == {"title", "capacity", "tags"}, errors  # end is checked once the types are right
        assert errors["title"].startswith("「タイトル」") or "タイトル" in errors["title"]
        assert 'value="2F ラウンジ"' in page and 'value="たくさん"' in page and "みんなで" in page
        assert '<option value="hybrid" selected>' in page
        _, page = await op.form("/calendar/new", {**typed, "title": "ジェリー会", "capacity": "8", "tags": "jelly"}, status=422)
        assert re.findall(r'<p class="error" id="e-(\w+)">', page) == ["end"]
        where, _ = await op.form("/calendar/new", {**typed, "title": "ジェリー会", "capacity": "8", "tags": "jelly",
                                                    "end": (start + dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")})
        assert where.startswith("/calendar/events/") and where.endswith("?done=saved")
        event_id = where.split("/")[3].split("?")[0]
        page = _text(await op.page(where))
        assert "ジェリー会" in page and "19:00～22:00" in page.replace("–", "～") and "2F ラウンジ" in page
    made = await kobe.get(f"/api/events/{event_id}")
    assert made["local_start"] == start.isoformat() and made["capacity"] == 8 and made["place"]["mode"] == "hybrid"
    assert made["description"] == "みんなで\n作業"


async def test_an_edit_sends_only_what_changed_and_an_edit_made_meanwhile_is_not_overwritten(kobe: Space) -> None:
    """The operator changes the seats; the event keeps the rest. A form read before another
    edit is refused with a word, nothing saved."""
    start = _day(5, 10)
    e = await kobe.post("/api/events", {"title": "Talk", "start": start.isoformat(), "end": (start + dt.timedelta(hours=1)).isoformat(),
                                        "capacity": 5, "tags": ["talk"]})
    async with operator(kobe, "en") as op:
        form = await op.page(f"/calendar/events/{e['id']}/edit")
        values = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
        values = {k: htmlmod.unescape(v) for k, v in values.items() if k not in ("csrf",)}
        values.update(mode="onsite", language="ja", description="", capacity="20")
        where, _ = await op.form(f"/calendar/events/{e['id']}/edit", values)
        assert where.endswith("?done=saved")
        got = await kobe.get(f"/api/events/{e['id']}")
        assert got["capacity"] == 20 and got["title"] == "Talk" and got["version"] == 2 and got["tags"] == ["talk"]
        await kobe.request("PATCH", f"/api/events/{e['id']}", {"title": "Talk (moved)"})
        _, page = await op.form(f"/calendar/events/{e['id']}/edit", {**values, "capacity": "30"}, status=422)
        assert "Someone changed this event while you were editing" in page
        assert (await kobe.get(f"/api/events/{e['id']}"))["capacity"] == 20


async def test_the_month_and_list_views_filter_by_space_and_tag_and_show_a_joint_event_once(kobe: Space) -> None:
    """Two events this month, one joint with a part: the month view lists each once (the joint
    one with its part), the tag filter keeps one, and the .ics address carries the filter."""
    start = _day(2, 13)
    iso = lambda d: d.isoformat()  # noqa: E731
    lead = await kobe.post("/api/events", {"title": "同時開催Jelly", "start": iso(start), "end": iso(start + dt.timedelta(hours=2)),
                                           "joint": True, "tags": ["jelly"]})
    await kobe.post("/api/events", {"title": "同時開催Jelly 夜の部", "start": iso(start + dt.timedelta(hours=5)),
                                    "end": iso(start + dt.timedelta(hours=6)), "joint_id": lead["id"], "tags": ["jelly"]})
    await kobe.post("/api/events", {"title": "もくもく会", "start": iso(start), "end": iso(start + dt.timedelta(hours=1)), "tags": ["work"]})
    month = start.strftime("%Y-%m")
    async with operator(kobe, "ja") as op:
        page = await op.page(f"/calendar?month={month}")
        assert len(re.findall(r'class="event[ "]', page)) == 2  # the joint event once, its part inside it
        assert 'href="/calendar/events/' + lead["id"] + '" class="event' in page and "夜の部" not in page
        assert "この同時開催イベントの各会場" in page and "もくもく会" in page
        assert f"{start.year}年{start.month}月" in page
        assert re.search(r'<thead><tr><th scope="col"><abbr title="日曜日">日</abbr></th>', page)  # weeks start on Sunday
        tagged = await op.page(f"/calendar?month={month}&tag=work")
        assert "もくもく会" in tagged and "同時開催Jelly" not in _text(tagged).split("カレンダーアプリで購読")[0].split("すべてのタグ")[1]
        assert re.search(r'id="ics-url" type="text" readonly value="http://[^"]+/calendar\.ics\?tag=work"', tagged)
        listed = await op.page("/calendar/list?space=kobe")
        assert len(re.findall(r'class="event[ "]', listed)) == 2 and "各会場" in listed
        assert "もくもく会" in listed and "同時開催Jelly" in listed and "夜の部" not in listed
        unknown = await op.page("/calendar?month=nonsense&space=nowhere&tag=%3Cscript%3E")  # dropped, not echoed
        assert "<script>" not in unknown.split("</head>")[1]
    ics = await kobe.get("/calendar.ics?tag=work", auth=False)
    assert "もくもく会" in ics and "同時開催Jelly" not in ics


async def test_a_member_is_signed_up_through_the_event_page_and_the_host_cancels(kobe: Space) -> None:
    """No member chosen: the error is next to the list. Chosen: seated, shown among the
    attendees. Cancelling asks first, then every seat is cancelled."""
    start = _day(3, 18)
    e = await kobe.post("/api/events", {"title": "ジェリー会", "start": start.isoformat(), "end": (start + dt.timedelta(hours=2)).isoformat(),
                                        "capacity": 4})
    aiko = await kobe.post("/api/members", {"name": "青木 愛子", "share_name": True})
    async with operator(kobe, "ja") as op:
        page = await op.page(f"/calendar/events/{e['id']}")
        assert "まだ申し込みはありません。" in page and "青木 愛子" in page  # offered in the member list
        _, page = await op.form(f"/calendar/events/{e['id']}/rsvp", {"member": "", "action": "signup"}, status=422)
        assert re.search(r'<p class="error" id="e-member">申し込むメンバーを選んでください。</p>', page)
        where, _ = await op.form(f"/calendar/events/{e['id']}/rsvp", {"member": aiko["id"], "action": "signup"})
        page = _text(await op.page(where))
        assert "申し込みました" in page and "定員 4 人のうち 1 人が確定" in page and "青木 愛子 神戸" not in page
        assert "青木 愛子" in page.split("参加者")[1]
        confirm = _text(await op.page(f"/calendar/events/{e['id']}/cancel"))
        assert "1 人が申し込んでいます" in confirm
        where, _ = await op.form(f"/calendar/events/{e['id']}/cancel", {})
        assert where.endswith("done=cancelled")
        assert "イベントを中止しました" in await op.page(where)
    assert (await kobe.get(f"/api/events/{e['id']}"))["status"] == "cancelled"
    rsvps = (await kobe.get("/api/rsvps"))["rsvps"]
    assert [r["status"] for r in rsvps] == ["cancelled"]


async def test_an_event_this_node_does_not_hold_is_a_page_in_the_operators_language(kobe: Space) -> None:
    """A stale link: 404 as a page, not the JSON API's error; another space's event offers no edit."""
    async with operator(kobe, "ja") as op:
        page = await op.page("/calendar/events/no-such-event", status=404)
        assert "このイベントはここにはありません。" in page and "<html" in page
        await op.page("/calendar/events/no-such-event/edit", status=404)
        await op.form("/calendar/events/no-such-event/rsvp", {"member": "x"}, status=404)
