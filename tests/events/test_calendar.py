"""The federated calendar as a subscriber's client reads it back (node/calendar.py)."""

from __future__ import annotations

import datetime as dt

import icalendar
from msgspec.structs import replace

from node.events.calendar import PRODID, render, render_one
from schemas.event import Event, Place

UTC = dt.UTC
STAMP = dt.datetime(2026, 4, 1, tzinfo=UTC)
NAMES = {"kobe": "Kobe Hub", "sapporo": "Sapporo Base", "hakodate": "Hakodate Port"}


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 5, day, hour, minute, tzinfo=UTC)


JELLY = Event(
    id="ev-jelly",
    space="kobe",
    title="Jelly",
    description="Bring a laptop.",
    start=at(1, 1),  # 10:00 in Tokyo
    end=at(1, 3),
    tz="Asia/Tokyo",
    place=Place(mode="onsite", room="Room A"),
    capacity=20,
    confirmed=3,
    tags=["jelly", "coffee"],
)
TALK = Event(
    id="ev-talk",
    space="sapporo",
    title="Rust talk",
    start=at(2, 9),
    end=at(2, 10),
    tz="Europe/London",
    place=Place(mode="online", url="https://meet.example.org/rust"),
    status="cancelled",
)
# A joint hackathon held in three spaces; the lead part (id == joint_id) is not the earliest.
LEAD = Event(
    id="hack-2026", space="kobe", title="Spring hack", start=at(3, 1), end=at(3, 8),
    tz="Asia/Tokyo", place=Place(room="Hall"), capacity=30, confirmed=12, joint_id="hack-2026",
)
NORTH = Event(
    id="ev-north", space="sapporo", title="Spring hack (Sapporo)", start=at(3, 0),
    end=at(3, 6), tz="Asia/Tokyo", place=Place(room="Loft"), capacity=10, confirmed=10,
    waitlisted=2, joint_id="hack-2026",
)
PORT = Event(
    id="ev-port", space="hakodate", title="Spring hack (Hakodate)", start=at(3, 2),
    end=at(3, 9), tz="Asia/Tokyo",
    place=Place(mode="hybrid", room="Dock", url="https://x.example/h"),
    joint_id="hack-2026",
)


def vevents(body: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(body)
    return {str(v["UID"]): v for v in cal.walk("VEVENT")}


def test_a_subscriber_sees_each_event_once_and_the_joint_event_as_one_entry() -> None:
    """Plain, cancelled and a 3-part joint event give three VEVENTs with stable UIDs."""
    body = render(
        [(JELLY, 2), (TALK, 3), (LEAD, 4), (NORTH, 2), (PORT, 1)],
        calendar_name="Hitode",
        space_names=NAMES,
        stamp=STAMP,
    )
    cal = icalendar.Calendar.from_ical(body)
    assert str(cal["PRODID"]) == PRODID
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["X-WR-CALNAME"]) == "Hitode"
    assert sorted(vevents(body)) == [
        "ev-jelly@kobe.hitode", "ev-talk@sapporo.hitode", "hack-2026@hitode",
    ]
    assert {tz.tz_name for tz in cal.timezones} == {"Asia/Tokyo", "Europe/London"}


def test_a_plain_event_keeps_its_instant_and_its_announced_zone() -> None:
    """DTSTART/DTEND name the announced zone but are the same instants as the record."""
    v = vevents(render([(JELLY, 2)], calendar_name="Hitode", space_names=NAMES, stamp=STAMP))[
        "ev-jelly@kobe.hitode"
    ]
    assert v["DTSTART"].params["TZID"] == "Asia/Tokyo"
    assert v["DTSTART"].dt == JELLY.start and v["DTEND"].dt == JELLY.end
    assert v["DTSTART"].dt.hour == 10  # local wall time in Tokyo
    assert str(v["SUMMARY"]) == "Jelly"
    assert str(v["STATUS"]) == "CONFIRMED"
    assert int(v["SEQUENCE"]) == 2
    assert str(v["LOCATION"]) == "Room A"
    assert "URL" not in v
    assert v.categories == ["jelly", "coffee"]
    assert str(v["X-HITODE-SPACE"]) == "kobe"
    assert v["DTSTAMP"].dt == STAMP
    description = str(v["DESCRIPTION"])
    assert "Bring a laptop." in description and "Kobe Hub" in description and "3/20" in description


def test_a_cancelled_online_event_stays_in_the_feed_as_cancelled() -> None:
    """Clients remove a cancelled entry only if they see it with STATUS:CANCELLED."""
    v = vevents(render([(TALK, 3)], calendar_name="Hitode", stamp=STAMP))["ev-talk@sapporo.hitode"]
    assert str(v["STATUS"]) == "CANCELLED"
    assert int(v["SEQUENCE"]) == 3
    assert str(v["LOCATION"]) == str(v["URL"]) == "https://meet.example.org/rust"
    assert v["DTSTART"].params["TZID"] == "Europe/London"
    assert v["DTSTART"].dt == TALK.start
    assert "sapporo" in str(v["DESCRIPTION"])  # no display name given: the id is shown


def test_a_joint_event_is_one_entry_spanning_its_parts() -> None:
    """Lead title, earliest start, latest end, summed SEQUENCE, and every part listed."""
    body = render(
        [(NORTH, 2), (PORT, 1), (LEAD, 4)], calendar_name="Hitode", space_names=NAMES, stamp=STAMP
    )
    cal = icalendar.Calendar.from_ical(body)
    assert len(cal.walk("VEVENT")) == 1
    v = cal.walk("VEVENT")[0]
    assert str(v["UID"]) == "hack-2026@hitode"
    assert str(v["SUMMARY"]) == "Spring hack"
    assert v["DTSTART"].dt == NORTH.start and v["DTEND"].dt == PORT.end
    assert str(v["STATUS"]) == "CONFIRMED"
    assert int(v["SEQUENCE"]) == 7
    assert str(v["X-HITODE-PARTS"]) == "3"
    parts = [line for line in str(v["DESCRIPTION"]).splitlines() if line.startswith("- ")]
    assert len(parts) == 3
    north = next(p for p in parts if "Sapporo Base" in p)
    assert "Loft" in north and "09:00–15:00" in north and "10/10" in north
    assert any("Hakodate Port" in p and "Dock" in p and "https://x.example/h" in p for p in parts)
    assert any("Kobe Hub" in p and "12/30" in p for p in parts)


def test_a_joint_event_is_cancelled_only_when_every_part_is() -> None:
    """One cancelled part is marked in the listing; all cancelled cancels the entry."""
    north_off = replace(NORTH, status="cancelled")
    body = render(
        [(LEAD, 4), (north_off, 3), (PORT, 1)], calendar_name="H", space_names=NAMES, stamp=STAMP
    )
    v = vevents(body)["hack-2026@hitode"]
    assert str(v["STATUS"]) == "CONFIRMED"
    assert int(v["SEQUENCE"]) == 8
    assert v["DTSTART"].dt == LEAD.start  # the cancelled earliest part no longer counts
    assert any("CANCELLED" in p for p in str(v["DESCRIPTION"]).splitlines() if "Sapporo" in p)

    all_off = [(replace(e, status="cancelled"), 5) for e in (LEAD, NORTH, PORT)]
    v = vevents(render(all_off, calendar_name="H", stamp=STAMP))["hack-2026@hitode"]
    assert str(v["STATUS"]) == "CANCELLED"
    assert int(v["SEQUENCE"]) == 15


def test_without_a_lead_part_the_earliest_part_names_the_joint_event() -> None:
    """When no part's id is the joint id, the earliest part's title is the summary."""
    v = vevents(render([(PORT, 1), (NORTH, 1)], calendar_name="H", stamp=STAMP))["hack-2026@hitode"]
    assert str(v["SUMMARY"]) == "Spring hack (Sapporo)"
    assert str(v["X-HITODE-PARTS"]) == "2"


def test_render_one_uses_the_same_uid_as_the_subscription() -> None:
    """An "add to calendar" download and the subscription do not make two entries."""
    v = vevents(render_one(JELLY, 2, stamp=STAMP))
    assert list(v) == ["ev-jelly@kobe.hitode"]
    assert str(icalendar.Calendar.from_ical(render_one(JELLY, 2))["X-WR-CALNAME"]) == "Jelly"


def test_the_same_input_renders_the_same_bytes() -> None:
    """With a fixed stamp the body is a pure function of the records (usable as an ETag)."""
    events = [(TALK, 3), (JELLY, 2), (LEAD, 4), (NORTH, 2)]
    one = render(events, calendar_name="Hitode", space_names=NAMES, stamp=STAMP)
    two = render(list(reversed(events)), calendar_name="Hitode", space_names=NAMES, stamp=STAMP)
    assert one == two


def test_an_unknown_zone_falls_back_to_utc_without_moving_the_event() -> None:
    """A zone this host does not know is written as UTC; the instant is unchanged."""
    odd = replace(JELLY, tz="Mars/Olympus_Mons")
    body = render([(odd, 1)], calendar_name="H", stamp=STAMP)
    v = vevents(body)["ev-jelly@kobe.hitode"]
    assert "TZID" not in v["DTSTART"].params
    assert v["DTSTART"].dt == JELLY.start
    assert b"DTSTART:20260501T010000Z" in body


def test_an_empty_calendar_is_still_a_valid_calendar() -> None:
    """No events: a VCALENDAR with its name and no components."""
    cal = icalendar.Calendar.from_ical(render([], calendar_name="Empty"))
    assert cal.walk("VEVENT") == [] and cal.timezones == []
    assert str(cal["X-WR-CALNAME"]) == "Empty"



def test_an_event_ending_before_it_starts_does_not_break_the_feed() -> None:
    """icalendar refuses end < start; such a record (from any peer) ends at its start."""
    backwards = replace(JELLY, end=JELLY.start - dt.timedelta(hours=1), tz="Asia")
    body = render([(backwards, 1), (TALK, 1)], calendar_name="H", stamp=STAMP)
    v = vevents(body)["ev-jelly@kobe.hitode"]
    assert v["DTSTART"].dt == v["DTEND"].dt == JELLY.start
    assert "ev-talk@sapporo.hitode" in vevents(body)
