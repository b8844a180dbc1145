"""The federated calendar as RFC 5545 text, for Google/Apple Calendar subscriptions.

This module owns the mapping from `Event` records to VEVENTs: which UID a record gets,
how the parts of a joint event (同時開催) fold into one entry, and which SEQUENCE tells a
subscriber that an entry changed. icalendar does all the serialising; nothing here
writes content lines by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from icalendar.enums import STATUS

from schemas.event import Event

__all__ = ["PRODID", "render", "render_one"]

PRODID = "-//hitode//federated calendar//EN"

_UTC = ZoneInfo("UTC")


def render(
    events: Sequence[tuple[Event, int]],
    *,
    calendar_name: str,
    space_names: Mapping[str, str] = {},
    stamp: dt.datetime | None = None,
) -> bytes:
    """The VCALENDAR for `(event, version)` pairs, one VEVENT per event or joint event.

    `space_names` maps space ids to display names (the id is shown when missing).
    `stamp` is the DTSTAMP of every VEVENT; pass it to get byte-identical output for
    identical input (an HTTP handler can then hash the body into an ETag).
    """
    stamp = (stamp or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    joints: dict[str, list[tuple[Event, int]]] = {}
    vevents: list[icalendar.Event] = []
    for event, version in events:
        if event.joint_id:
            joints.setdefault(event.joint_id, []).append((event, version))
        else:
            vevents.append(_single(event, version, space_names, stamp))
    # A joint id seen with one part still gets the joint UID, so the entry keeps its UID
    # when the other spaces' parts replicate in later.
    vevents.extend(_joint(jid, parts, space_names, stamp) for jid, parts in joints.items())
    vevents.sort(key=lambda v: (v.DTSTART, str(v["UID"])))

    cal = icalendar.Calendar()
    cal.prodid = PRODID
    cal.version = "2.0"
    cal.calendar_name = calendar_name  # NAME (RFC 7986) and X-WR-CALNAME
    for vevent in vevents:
        cal.add_component(vevent)
    _add_timezones(cal, vevents)
    body: bytes = cal.to_ical()
    return body


def render_one(
    event: Event,
    version: int,
    *,
    calendar_name: str = "",
    space_names: Mapping[str, str] = {},
    stamp: dt.datetime | None = None,
) -> bytes:
    """A one-entry calendar ("add to my calendar"), with the same UID as in `render`.

    Same UID means a client that imports this and also subscribes sees one entry.
    """
    return render(
        [(event, version)],
        calendar_name=calendar_name or event.title,
        space_names=space_names,
        stamp=stamp,
    )


def _single(
    event: Event, version: int, names: Mapping[str, str], stamp: dt.datetime
) -> icalendar.Event:
    zone = _zone(event.tz)
    place = event.place
    vevent = icalendar.Event.new(
        uid=f"{event.id}@{event.space}.hitode",
        summary=event.title,
        description=_description(event, names),
        # icalendar refuses an end before the start; one odd record from a peer must not
        # take the whole feed down, so such an event ends when it starts.
        start=event.start.astimezone(zone),
        end=max(event.start, event.end).astimezone(zone),
        location=_where(event) or None,
        url=place.url or None,
        status=STATUS.CANCELLED if event.status == "cancelled" else STATUS.CONFIRMED,
        sequence=version,
        stamp=stamp,
    )
    _categorise(vevent, event.tags)
    vevent.add("X-HITODE-SPACE", event.space)
    return vevent


def _joint(
    joint_id: str,
    parts: list[tuple[Event, int]],
    names: Mapping[str, str],
    stamp: dt.datetime,
) -> icalendar.Event:
    events = sorted((e for e, _ in parts), key=lambda e: (e.start, e.space, e.id))
    lead = next((e for e in events if e.id == joint_id), events[0])
    live = [e for e in events if e.status != "cancelled"]
    # A cancelled part no longer stretches the span, unless every part is cancelled.
    span = live or events
    first = min(e.start for e in span)
    zone = _zone(lead.tz)
    lines = [lead.description, ""] if lead.description else []
    lines.append(f"{len(events)} spaces at once:")
    lines.extend(_part_line(e, names) for e in events)
    vevent = icalendar.Event.new(
        uid=f"{joint_id}@hitode",
        summary=lead.title,
        description="\n".join(lines),
        start=first.astimezone(zone),
        end=max(first, *(e.end for e in span)).astimezone(zone),
        location=" / ".join(dict.fromkeys(_name(e.space, names) for e in span)),
        url=lead.place.url or None,
        status=STATUS.CONFIRMED if live else STATUS.CANCELLED,
        # Each part's version only grows, so their sum does too (RFC 5545 §3.8.7.4).
        sequence=sum(v for _, v in parts),
        stamp=stamp,
    )
    _categorise(vevent, list(dict.fromkeys(t for e in events for t in e.tags)))
    vevent.add("X-HITODE-PARTS", str(len(events)))
    return vevent


def _categorise(vevent: icalendar.Event, tags: list[str]) -> None:
    # Only when there are tags: `Event.new(categories=[])` writes an empty CATEGORIES line.
    if tags:
        vevent.categories = tags


def _description(event: Event, names: Mapping[str, str]) -> str:
    lines = [event.description, ""] if event.description else []
    lines.append(f"Hosted by {_name(event.space, names)}")
    if event.capacity is not None:
        lines.append(f"Seats: {_seats(event)}")
    return "\n".join(lines)


def _part_line(event: Event, names: Mapping[str, str]) -> str:
    zone = _zone(event.tz)
    start, end = event.start.astimezone(zone), event.end.astimezone(zone)
    until = end.strftime("%H:%M" if end.date() == start.date() else "%Y-%m-%d %H:%M")
    fields = [
        _name(event.space, names),
        " + ".join(p for p in (event.place.room, event.place.url) if p) or "-",
        f"{start:%Y-%m-%d %H:%M}–{until} ({zone.key})",
        f"seats {_seats(event)}",
    ]
    if event.status == "cancelled":
        fields.append("CANCELLED")
    return "- " + " | ".join(fields)


def _seats(event: Event) -> str:
    cap = "∞" if event.capacity is None else str(event.capacity)
    return f"{event.confirmed}/{cap}"


def _where(event: Event) -> str:
    """LOCATION: the room; the url for an online event (or when no room is given)."""
    place = event.place
    if place.mode == "online" or not place.room:
        return place.url
    return place.room


def _name(space: str, names: Mapping[str, str]) -> str:
    return names.get(space) or space


def _zone(name: str) -> ZoneInfo:
    """The announced zone; UTC if this host has no such zone (the instant stays right)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Asia" is a directory: OSError
        return _UTC


def _add_timezones(cal: icalendar.Calendar, vevents: Sequence[icalendar.Event]) -> None:
    """VTIMEZONEs for every TZID used, covering only the years the entries touch.

    `Calendar.add_missing_timezones()` does the same but walks a set, so the order of the
    VTIMEZONEs would change from process to process and so would the bytes; its default
    1970–2038 range also makes a zone with DST several KiB long, re-fetched by every
    subscriber on every poll.
    """
    if not vevents:
        return
    first = dt.date(min(v.DTSTART.year for v in vevents), 1, 1)
    last = dt.date(min(max(v.DTEND.year for v in vevents) + 1, dt.MAXYEAR), 1, 1)
    at = 0
    for tzid in sorted(cal.get_missing_tzids()):
        try:
            vtimezone = icalendar.Timezone.from_tzid(tzid, first_date=first, last_date=last)
        except (ValueError, OverflowError):  # unknown to the tz provider: clients use the name
            continue
        cal.subcomponents.insert(at, vtimezone)
        at += 1
