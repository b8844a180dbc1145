"""A space points its node at the .ics feed it already publishes; every node then shows exactly its events."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from aiohttp import web

from node.bus.cluster import NatsCluster
from tests.eventually import eventually
from tests.spaces import HttpError, Space, spaces_for

NAMES = ["kobe", "sapporo", "hakodate"]
DAY = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).strftime("%Y%m%d")


def vevent(uid: str, title: str, hour: int) -> str:
    return (
        "BEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nSUMMARY:{title}\r\n"
        f"DTSTART;TZID=Asia/Tokyo:{DAY}T{hour:02d}0000\r\n"
        f"DTEND;TZID=Asia/Tokyo:{DAY}T{hour + 1:02d}0000\r\n"
        "LOCATION:1F salon\r\nEND:VEVENT\r\n"
    )


def calendar(*events: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//feed//EN\r\n" + "".join(events)
            + "END:VCALENDAR\r\n").encode()


class Feed:
    """A real HTTP server on loopback serving a calendar that the test changes."""

    def __init__(self) -> None:
        self.body = b""
        self.hits = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=self.body, content_type="text/calendar", headers={"ETag": etag})


@pytest_asyncio.fixture
async def feed() -> AsyncIterator[Feed]:
    f = Feed()
    app = web.Application()
    app.router.add_get("/events.ics", f.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    f.url = f"http://127.0.0.1:{runner.addresses[0][1]}/events.ics"
    try:
        yield f
    finally:
        await runner.cleanup()


async def _titles(space: Space) -> list[str]:
    listed = await space.get("/api/events?space=kobe&status=active&limit=500", auth=False)
    return sorted(e["title"] for e in listed["events"])


async def _shows(spaces: list[Space], want: list[str]) -> bool:
    return all([await _titles(s) == sorted(want) for s in spaces])


async def test_feed_imported_twice_with_one_changed_and_one_removed(
    tmp_path: Path, nats_cluster: NatsCluster, feed: Feed
) -> None:
    """Three VEVENTs imported; then one renamed and one dropped from the feed: every node shows exactly the feed."""
    feed.body = calendar(vevent("a@kobe", "Jelly morning", 9), vevent("b@kobe", "Talk: NATS", 13),
                         vevent("c@kobe", "Fridge cleaning", 17))
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe = spaces[0]
        first = await kobe.post("/api/feeds", {"url": feed.url})
        assert (first["created"], first["updated"], first["cancelled"]) == (3, 0, 0)
        await eventually(lambda: _shows(spaces, ["Jelly morning", "Talk: NATS", "Fridge cleaning"]))

        again = (await kobe.post("/api/feeds/poll", {}))["feeds"][0]
        assert again["changed"] is False  # 304: nothing re-imported, nothing duplicated

        feed.body = calendar(vevent("a@kobe", "Jelly morning", 9), vevent("b@kobe", "Talk: NATS & SQLite", 13))
        second = (await kobe.post("/api/feeds/poll", {}))["feeds"][0]
        assert (second["created"], second["updated"], second["cancelled"]) == (0, 1, 1)
        await eventually(lambda: _shows(spaces, ["Jelly morning", "Talk: NATS & SQLite"]))
        everything = await spaces[2].get("/api/events?space=kobe&limit=500", auth=False)
        assert len(everything["events"]) == 3  # the removed one is there, cancelled, not twice
        assert (await kobe.get("/api/feeds"))["feeds"][0]["error"] == ""


async def test_a_feed_that_is_not_a_calendar_is_refused_naming_url(
    tmp_path: Path, nats_cluster: NatsCluster, feed: Feed
) -> None:
    """An HTML page (422: not a calendar) or a bad URL (400) is refused naming `url`, and no event appears."""
    feed.body = b"<html>not a calendar</html>"
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_cluster[n].client_url, replicas=3) as (kobe,):
        try:
            await kobe.post("/api/feeds", {"url": feed.url})
        except HttpError as e:
            assert e.status in (400, 422) and e.body["error"]["field"] == "url"
            assert "calendar" in e.body["error"]["message"].lower()
        else:
            raise AssertionError("an HTML page was accepted as a feed")
        assert (await kobe.get("/api/feeds"))["feeds"] == []
        try:
            await kobe.post("/api/feeds", {"url": "ftp://example/x.ics"})
        except HttpError as e:
            assert e.status in (400, 422) and e.body["error"]["field"] == "url"
        else:
            raise AssertionError("an ftp URL was accepted")
        assert (await kobe.get("/api/events", auth=False))["total"] == 0


async def test_a_feed_that_suddenly_lists_nothing_cancels_nothing(
    tmp_path: Path, nats_cluster: NatsCluster, feed: Feed
) -> None:
    """The calendar service hiccups and serves an empty calendar: the imported events stay on."""
    feed.body = calendar(vevent("a@kobe", "Jelly morning", 9), vevent("b@kobe", "Talk", 13))
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_cluster[n].client_url, replicas=3) as (kobe,):
        await kobe.post("/api/feeds", {"url": feed.url})
        feed.body = calendar()
        polled = (await kobe.post("/api/feeds/poll", {}))["feeds"][0]
        assert polled["changed"] is True and polled["cancelled"] == 0
        assert await _titles(kobe) == ["Jelly morning", "Talk"]


async def test_an_event_the_operator_cancelled_stays_cancelled_and_one_the_feed_dropped_comes_back(
    tmp_path: Path, nats_cluster: NatsCluster, feed: Feed
) -> None:
    """Kobe's operator calls off an imported talk; the feed later edits it: it stays off.
    An event the feed itself dropped comes back when the feed lists it again."""
    feed.body = calendar(vevent("a@kobe", "Jelly", 9), vevent("b@kobe", "Talk", 13), vevent("c@kobe", "Lunch", 12))
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_cluster[n].client_url, replicas=3) as (kobe,):
        await kobe.post("/api/feeds", {"url": feed.url})
        listed = await kobe.get("/api/events?space=kobe", auth=False)
        talk = next(e["id"] for e in listed["events"] if e["title"] == "Talk")
        await kobe.post(f"/api/events/{talk}/cancel", {})

        feed.body = calendar(vevent("a@kobe", "Jelly (2F)", 9), vevent("b@kobe", "Talk, moved", 14))
        polled = (await kobe.post("/api/feeds/poll", {}))["feeds"][0]
        assert (polled["created"], polled["updated"], polled["cancelled"]) == (0, 1, 1)
        assert await _titles(kobe) == ["Jelly (2F)"]
        assert (await kobe.get(f"/api/events/{talk}", auth=False))["status"] == "cancelled"

        feed.body = calendar(vevent("a@kobe", "Jelly (2F)", 9), vevent("b@kobe", "Talk, moved", 14),
                             vevent("c@kobe", "Lunch", 12))
        polled = (await kobe.post("/api/feeds/poll", {}))["feeds"][0]
        assert (polled["created"], polled["updated"], polled["cancelled"]) == (0, 1, 0)
        assert await _titles(kobe) == ["Jelly (2F)", "Lunch"]


async def test_a_member_signs_up_again_for_an_event_the_feed_brought_back(
    tmp_path: Path, nats_cluster: NatsCluster, feed: Feed
) -> None:
    """Sapporo's Aiko holds a seat at kobe's imported talk; the feed drops it (called off:
    sapporo is told) and lists it again. With kobe down Aiko signs up anew: sapporo shows
    "requested", not the old "cancelled"; once kobe is back, "confirmed"."""
    feed.body = calendar(vevent("t@kobe", "Talk", 13))
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo):
        await kobe.post("/api/feeds", {"url": feed.url})
        talk = (await kobe.get("/api/events?space=kobe", auth=False))["events"][0]["id"]
        await eventually(lambda: sapporo.space_version("kobe"))
        await eventually(lambda: _listed(sapporo, talk))
        aiko = (await sapporo.post("/api/members", {"name": "Aiko", "share_name": True}))["id"]
        await sapporo.post(f"/api/events/{talk}/rsvps", {"member": aiko})
        await eventually(lambda: _rsvp_is(sapporo, talk, "confirmed"))

        feed.body = calendar(vevent("x@kobe", "Another", 9))
        await kobe.post("/api/feeds/poll", {})
        await eventually(lambda: _rsvp_is(sapporo, talk, "cancelled"))
        feed.body = calendar(vevent("t@kobe", "Talk", 13), vevent("x@kobe", "Another", 9))
        await kobe.post("/api/feeds/poll", {})
        await eventually(lambda: _listed(sapporo, talk, status="updated"))

        await kobe.kill()
        again = await sapporo.post(f"/api/events/{talk}/rsvps", {"member": aiko})
        assert again["status"] == "requested"
        await kobe.start()
        await eventually(lambda: _rsvp_is(sapporo, talk, "confirmed"), timeout=30)


async def _listed(space: Space, event_id: str, status: str | None = None) -> bool:
    try:
        e = await space.get(f"/api/events/{event_id}", auth=False)
    except HttpError:
        return False
    return status is None or e["status"] == status


async def _rsvp_is(space: Space, event_id: str, want: str) -> bool:
    e = await space.get(f"/api/events/{event_id}")
    return [r["status"] for r in e.get("rsvps", [])] == [want]
