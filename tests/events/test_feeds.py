"""Importing a space's own .ics feed (node/feeds.py): parse, plan, and a real HTTP fetch."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from msgspec.structs import replace

from node.errors import BadInput
from node.events.feeds import FeedEvent, fetch, parse, plan, record_id, to_event
from schemas.event import Event, Place

UTC = dt.UTC
TOKYO = dt.timezone(dt.timedelta(hours=9))
NOW = dt.datetime(2026, 5, 1, 3, 0, tzinfo=UTC)  # Friday 1 May 2026, 12:00 in Tokyo


def ics(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def vcalendar(*lines: str, head: tuple[str, ...] = ()) -> bytes:
    return ics("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", *head, *lines, "END:VCALENDAR")


def vevent(uid: str, *lines: str) -> tuple[str, ...]:
    return ("BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260401T000000Z", *lines, "END:VEVENT")


# A space's feed as a calendar app exports it: a one-off evening event with a room; a
# weekly standup (online, 90 min) with an EXDATE and one moved occurrence; an all-day
# holiday; a cancelled event; one long past; one in Berlin with no end; one with no start.
FEED = (Path(__file__).parents[1] / "data" / "space_feed.ics").read_bytes()


def by_uid(events: list[FeedEvent], uid: str) -> list[FeedEvent]:
    return [e for e in events if e.source_uid == uid]


# --- parse ---------------------------------------------------------------------------


def test_a_plain_event_is_read_with_its_room_zone_and_tags() -> None:
    """A one-off event: id from its UID alone (moving it keeps its record), instants in UTC, zone from its TZID."""
    [jelly] = by_uid(parse(FEED, now=NOW), "jelly-0505@example.org")
    start = dt.datetime(2026, 5, 5, 19, tzinfo=TOKYO)
    key = "jelly-0505@example.org|1970-01-01T00:00:00+00:00"
    assert jelly.record_id == "ics-" + hashlib.sha256(key.encode()).hexdigest()[:24]
    moved = FEED.replace(b"20260505T190000", b"20260505T193000")
    [later] = by_uid(parse(moved, now=NOW), "jelly-0505@example.org")
    assert later.record_id == jelly.record_id and later.start != jelly.start
    assert jelly.start == start and jelly.end == dt.datetime(2026, 5, 5, 21, tzinfo=TOKYO)
    assert jelly.start.tzinfo == UTC
    assert jelly.tz == "Asia/Tokyo"
    assert jelly.title == "Jelly" and jelly.description == "Co-working, open to all"
    assert jelly.place == Place(mode="onsite", room="Room A")
    assert jelly.tags == ["jelly", "open-day"]


def test_a_weekly_event_is_expanded_over_the_window_with_exdate_and_override() -> None:
    """Wednesdays 6 May to 24 Jun: 29 Apr ended over a day ago, 20 May is an EXDATE."""
    standups = by_uid(parse(FEED, now=NOW), "standup@example.org")
    starts = [e.start.astimezone(TOKYO) for e in standups]
    assert [s.date() for s in starts] == [
        dt.date(2026, 5, d) for d in (6, 13, 27)
    ] + [dt.date(2026, 6, d) for d in (3, 10, 17, 24)]
    assert all(e.end - e.start == dt.timedelta(minutes=90) for e in standups if e.start.day != 13)
    regular = standups[0]
    assert regular.place == Place(mode="online", url="https://meet.example.org/standup")
    assert regular.record_id == record_id("standup@example.org", regular.start)
    assert len({e.record_id for e in standups}) == len(standups)


def test_a_moved_occurrence_keeps_the_id_of_its_slot() -> None:
    """The override moves 13 May to 21:00 but stays the record of the 19:00 slot."""
    [late] = [e for e in by_uid(parse(FEED, now=NOW), "standup@example.org") if "late" in e.title]
    assert late.start == dt.datetime(2026, 5, 13, 21, tzinfo=TOKYO)
    assert late.record_id == record_id(
        "standup@example.org", dt.datetime(2026, 5, 13, 19, tzinfo=TOKYO)
    )


def test_recurring_ids_are_stable_across_parses_and_moving_windows() -> None:
    """Re-importing a week later gives the overlapping occurrences the same ids."""
    first = {e.record_id: e for e in parse(FEED, now=NOW)}
    again = {e.record_id: e for e in parse(FEED, now=NOW)}
    later = {e.record_id: e for e in parse(FEED, now=NOW + dt.timedelta(days=7))}
    assert first == again
    overlap = [e for e in first.values() if e.start >= NOW + dt.timedelta(days=6)]
    assert overlap and all(later[e.record_id] == e for e in overlap)
    assert len(later) > 0 and set(later) - set(first)  # a new Wednesday entered the window


def test_an_all_day_event_runs_midnight_to_midnight_in_the_default_zone() -> None:
    """DATE values are read as 00:00 to 00:00 the next day in `default_tz`."""
    [holiday] = by_uid(parse(FEED, now=NOW), "holiday@example.org")
    assert holiday.start == dt.datetime(2026, 5, 6, tzinfo=TOKYO)
    assert holiday.end == dt.datetime(2026, 5, 7, tzinfo=TOKYO)
    assert holiday.tz == "Asia/Tokyo"
    [utc_holiday] = by_uid(parse(FEED, now=NOW, default_tz="UTC"), "holiday@example.org")
    assert utc_holiday.start == dt.datetime(2026, 5, 6, tzinfo=UTC)


def test_cancelled_past_and_startless_events_are_left_out() -> None:
    """STATUS:CANCELLED means removed; the past and a VEVENT without DTSTART are skipped."""
    uids = {e.source_uid for e in parse(FEED, now=NOW)}
    assert uids == {
        "jelly-0505@example.org", "standup@example.org", "holiday@example.org",
        "berlin@example.org",
    }


def test_an_event_without_end_lasts_an_hour_in_its_own_zone() -> None:
    """No DTEND and no DURATION: one hour; a valid IANA TZID is kept as the zone."""
    [berlin] = by_uid(parse(FEED, now=NOW), "berlin@example.org")
    assert berlin.tz == "Europe/Berlin"
    assert berlin.start == dt.datetime(2026, 5, 8, 16, tzinfo=UTC)  # CEST is UTC+2
    assert berlin.end - berlin.start == dt.timedelta(hours=1)
    assert berlin.place == Place(
        mode="hybrid", room="Café Kranzler", url="https://berlin.example.org/meetup"
    )


def test_a_window_of_one_week_stops_the_expansion_early() -> None:
    """`weeks` bounds the window: only 6 May's standup within a week of 1 May."""
    standups = by_uid(parse(FEED, now=NOW, weeks=1), "standup@example.org")
    assert [e.start.astimezone(TOKYO).date() for e in standups] == [dt.date(2026, 5, 6)]


def test_an_event_that_ended_within_the_day_is_still_imported() -> None:
    """The window opens a day before now, so this morning's event is still there."""
    body = vcalendar(
        *vevent("morning@x", "DTSTART:20260430T230000Z", "DTEND:20260501T000000Z"),
        *vevent("yesterday@x", "DTSTART:20260429T230000Z", "DTEND:20260430T000000Z"),
    )
    assert [e.source_uid for e in parse(body, now=NOW)] == ["morning@x"]


def test_a_non_iana_tzid_falls_back_to_the_default_zone_at_the_right_instant() -> None:
    """A custom VTIMEZONE gives the instant; its made-up name is not kept as the zone."""
    body = vcalendar(
        "BEGIN:VTIMEZONE", "TZID:Office time", "BEGIN:STANDARD", "DTSTART:19700101T000000",
        "TZOFFSETFROM:+0530", "TZOFFSETTO:+0530", "END:STANDARD", "END:VTIMEZONE",
        *vevent("office@x", "DTSTART;TZID=Office time:20260505T100000", "CATEGORIES:" + "x" * 60),
    )
    [office] = parse(body, now=NOW, default_tz="Asia/Kolkata")
    assert office.start == dt.datetime(2026, 5, 5, 4, 30, tzinfo=UTC)
    assert office.tz == "Asia/Kolkata"
    assert office.tags == ["x" * 40]


def test_a_google_style_feed_reads_utc_times_in_its_x_wr_timezone() -> None:
    """Google exports UTC times plus X-WR-TIMEZONE: that zone is the announced one."""
    body = vcalendar(
        *vevent("g1@google.com", "DTSTART:20260505T160000Z", "DTEND:20260505T170000Z"),
        *vevent("g2@google.com", "DTSTART;VALUE=DATE:20260506", "DTEND;VALUE=DATE:20260508"),
        head=("X-WR-TIMEZONE:Europe/Berlin",),
    )
    meetup, retreat = parse(body, now=NOW)
    assert meetup.start == dt.datetime(2026, 5, 5, 16, tzinfo=UTC)
    assert meetup.tz == retreat.tz == "Europe/Berlin"
    berlin = dt.timezone(dt.timedelta(hours=2))
    assert (retreat.start, retreat.end) == (
        dt.datetime(2026, 5, 6, tzinfo=berlin), dt.datetime(2026, 5, 8, tzinfo=berlin),
    )
    # An X-WR-TIMEZONE nobody knows is ignored (x_wr_timezone itself would raise on it).
    [meetup] = by_uid(parse(body.replace(b"Europe/Berlin", b"Europe"), now=NOW), "g1@google.com")
    assert meetup.tz == "Asia/Tokyo" and meetup.start == dt.datetime(2026, 5, 5, 16, tzinfo=UTC)


def test_one_malformed_vevent_does_not_spoil_the_feed() -> None:
    """A bad RRULE, a repeated UID or a DTSTART that is not a date: that VEVENT is skipped."""
    body = vcalendar(
        *vevent("good@x", "DTSTART:20260505T100000Z"),
        *vevent("rule@x", "DTSTART:20260505T100000Z", "RRULE:FREQ=SOMETIMES"),
        *vevent("twice@x", "UID:twice-again@x", "DTSTART:20260505T100000Z"),
        *vevent("time@x", "DTSTART;VALUE=TIME:100000"),
        *vevent("status@x", "DTSTART:20260506T100000Z", "STATUS:POSTPONED"),
    )
    assert [e.source_uid for e in parse(body, now=NOW)] == ["good@x", "status@x"]


def test_imported_events_fit_the_event_schema() -> None:
    """Over-long text, odd categories and a long URL are fitted, so the record validates."""
    body = vcalendar(
        *vevent(
            "u" * 1200, "DTSTART:20260505T100000Z", "SUMMARY:" + "T" * 300,
            "DESCRIPTION:" + "d" * 9000, "LOCATION:" + "R" * 300,
            "URL:https://x.example/" + "p" * 600,
            r"CATEGORIES:a b,,  ,c\,d," + "z" * 50,  # c\,d is one category, "c,d"
        )
    )
    [odd] = parse(body, now=NOW)
    assert len(odd.source_uid) == 1000
    assert len(odd.title) == 200 and len(odd.description) == 8000 and len(odd.place.room) == 200
    assert odd.place == Place(mode="onsite", room="R" * 200)  # a URL over 500 chars is dropped
    assert odd.tags == ["a-b", "c-d", "z" * 40]
    for fe in [odd, *parse(FEED, now=NOW)]:
        event = to_event(fe, space="kobe", prev=None)
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(event), type=Event) == event


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>Sign in</body></html>",
        ics("BEGIN:VCARD", "VERSION:3.0", "FN:A", "END:VCARD"),
    ],
    ids=["empty", "html", "vcard"],
)
def test_a_body_that_is_not_icalendar_is_bad_input_on_url(body: bytes) -> None:
    """A login page or a vCard at the feed URL is reported against the url field."""
    with pytest.raises(BadInput, match="not an iCalendar feed") as caught:
        parse(body, now=NOW)
    assert caught.value.field == "url"


# --- plan and to_event ---------------------------------------------------------------


def imported(fe: FeedEvent, **changes: object) -> Event:
    return replace(to_event(fe, space="kobe", prev=None), **changes)


def test_plan_creates_updates_cancels_and_leaves_the_rest() -> None:
    """New → create; changed or back-again (after the import dropped it) → update; gone → cancel; same → nothing."""
    feed = parse(FEED, now=NOW)
    jelly, standup, holiday, berlin = (
        by_uid(feed, u)[0]
        for u in ("jelly-0505@example.org", "standup@example.org", "holiday@example.org",
                  "berlin@example.org")
    )
    gone = imported(replace(jelly, record_id="ics-gone", title="Dropped from the feed"))
    ended = imported(
        replace(jelly, record_id="ics-ended", start=NOW - dt.timedelta(hours=3),
                end=NOW - dt.timedelta(hours=1))
    )
    old_cancel = imported(replace(jelly, record_id="ics-old-cancel"), status="cancelled")
    berlin_off = imported(berlin, status="cancelled")  # called off by the operator, not the feed
    existing = {
        jelly.record_id: imported(jelly),  # unchanged
        standup.record_id: imported(standup, title="Daily standup"),  # renamed in the feed
        holiday.record_id: imported(holiday, status="cancelled"),  # back again
        gone.id: gone,
        ended.id: ended,  # absent but over: left alone
        old_cancel.id: old_cancel,  # absent and already cancelled: left alone
    }
    result = plan(feed, existing, now=NOW, removed={holiday.record_id})
    assert berlin in result.create and standup not in result.create
    assert len(result.create) == len(feed) - 3
    # the operator's cancel stands although the feed lists the event
    assert plan(feed, {**existing, berlin.record_id: berlin_off}, now=NOW, removed={holiday.record_id}).update == result.update
    assert [(fe.record_id, prev.title) for fe, prev in result.update] == [
        (holiday.record_id, holiday.title),  # in feed order: 00:00 before 19:00 on 6 May
        (standup.record_id, "Daily standup"),
    ]
    assert result.cancel == [gone]


@pytest.mark.parametrize(
    "change",
    [
        {"description": "new text"},
        {"start": NOW + dt.timedelta(days=3)},
        {"end": NOW + dt.timedelta(days=9)},
        {"tz": "Europe/Berlin"},
        {"place": Place(room="Room B")},
        {"tags": ["jelly"]},
    ],
    ids=lambda c: next(iter(c)),
)
def test_any_imported_field_that_changes_makes_an_update(change: dict[str, object]) -> None:
    """Each of the feed-owned fields is compared."""
    [jelly] = by_uid(parse(FEED, now=NOW), "jelly-0505@example.org")
    result = plan([jelly], {jelly.record_id: imported(jelly, **change)}, now=NOW)
    assert [fe for fe, _ in result.update] == [jelly] and not result.create and not result.cancel


def test_a_reimport_keeps_what_hitode_added_to_the_event() -> None:
    """Seats, RSVP counts, joint id and language survive; status tells new from changed."""
    [jelly] = by_uid(parse(FEED, now=NOW), "jelly-0505@example.org")
    fresh = to_event(jelly, space="kobe", prev=None)
    assert fresh.status == "scheduled" and fresh.id == jelly.record_id
    assert fresh.source_uid == "jelly-0505@example.org" and fresh.space == "kobe"
    assert (fresh.start, fresh.end, fresh.tz) == (jelly.start, jelly.end, "Asia/Tokyo")
    assert fresh.tags == jelly.tags and fresh.place == jelly.place
    prev = replace(
        fresh, capacity=12, confirmed=5, waitlisted=1, joint_id="hack-2026", language="en",
        title="Old title",
    )
    updated = to_event(jelly, space="kobe", prev=prev)
    assert updated.status == "updated" and updated.title == "Jelly"
    assert (updated.capacity, updated.confirmed, updated.waitlisted) == (12, 5, 1)
    assert (updated.joint_id, updated.language) == ("hack-2026", "en")


# --- fetch against a real HTTP server ------------------------------------------------

ETAG = '"feed-v1"'
MODIFIED = "Thu, 30 Apr 2026 10:00:00 GMT"


@pytest_asyncio.fixture
async def feed_server() -> AsyncIterator[TestServer]:
    """An HTTP server on 127.0.0.1 (free port) serving the feed like a calendar host."""

    async def feed(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == ETAG:
            return web.Response(status=304, headers={"ETag": ETAG})
        return web.Response(
            body=FEED,
            content_type="text/calendar",
            headers={"ETag": ETAG, "Last-Modified": MODIFIED},
        )

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/calendar"})
        await response.prepare(request)
        for _ in range(6):  # 6 MiB, chunked: no Content-Length to refuse early
            await response.write(b"X" * (1024 * 1024))
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/space.ics", feed)
    app.router.add_get("/huge.ics", huge)
    server = TestServer(app, host="127.0.0.1", port=0)
    async with server:
        yield server


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_fetch_gets_the_feed_then_304_when_unchanged(
    feed_server: TestServer, session: aiohttp.ClientSession
) -> None:
    """The first GET returns the body and validators; the conditional one says unchanged."""
    url = str(feed_server.make_url("/space.ics"))
    first = await fetch(session, url)
    assert first.changed and first.body == FEED
    assert (first.etag, first.last_modified) == (ETAG, MODIFIED)
    assert {e.source_uid for e in parse(first.body, now=NOW)} >= {"jelly-0505@example.org"}

    second = await fetch(session, url, etag=first.etag, last_modified=first.last_modified)
    assert not second.changed and second.body == b""
    assert (second.etag, second.last_modified) == (ETAG, MODIFIED)


async def test_a_missing_feed_is_bad_input_naming_the_url(
    feed_server: TestServer, session: aiohttp.ClientSession
) -> None:
    """HTTP 404 → BadInput on "url" with the status in a plain message."""
    with pytest.raises(BadInput, match="HTTP 404") as caught:
        await fetch(session, str(feed_server.make_url("/nope.ics")))
    assert caught.value.field == "url"


async def test_a_feed_over_5_mib_is_refused(
    feed_server: TestServer, session: aiohttp.ClientSession
) -> None:
    """The body is capped while streaming, even without a Content-Length."""
    with pytest.raises(BadInput, match="5 MiB") as caught:
        await fetch(session, str(feed_server.make_url("/huge.ics")))
    assert caught.value.field == "url"


async def test_an_unreachable_or_non_http_url_is_bad_input(
    session: aiohttp.ClientSession,
) -> None:
    """Connection refused and a file: URL are both reported on "url"."""
    app = web.Application()
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        url = str(server.make_url("/space.ics"))
    # The server is closed now: nothing listens on that port any more.
    with pytest.raises(BadInput, match="could not fetch") as caught:
        await fetch(session, url, timeout=5)
    assert caught.value.field == "url"
    with pytest.raises(BadInput, match="http") as caught:
        await fetch(session, "file:///etc/passwd")
    assert caught.value.field == "url"
