"""Importing a space's existing calendar feed (an .ics URL) into its own events.

This module owns the three steps of an import and the identity that makes re-imports
idempotent: `fetch` (a conditional GET), `parse` (the feed's occurrences in a window, each
with a record id derived from its UID and slot, so the same occurrence always lands on
the same record), and `plan`/`to_event` (pure: which records to create, update or cancel).
Parsing and recurrence expansion are icalendar's and recurring_ical_events' work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
import icalendar
import msgspec
import recurring_ical_events
import yarl

from node.errors import BadInput
from schemas.event import Event, Place

__all__ = [
    "FeedEvent", "FetchResult", "Plan", "MAX_BODY",
    "parse", "fetch", "plan", "to_event", "record_id",
]

MAX_BODY = 5 * 1024 * 1024

_DEFAULT_LENGTH = dt.timedelta(hours=1)
_SLACK = dt.timedelta(days=1)
_TAG_JUNK = re.compile(r"[\s,]+")
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
# The Event fields an import writes (tags too, copied as a fresh list); the others are hitode's.
_FEED_OWNED = ("title", "description", "start", "end", "tz", "place", "source_uid")


# What malformed input makes icalendar and recurring_ical_events raise, found by mutating
# a valid feed: InvalidCalendar (a ValueError), and plain TypeError, AttributeError,
# KeyError and OverflowError from values of the wrong type or out of range.
_MALFORMED = (ValueError, TypeError, AttributeError, KeyError, OverflowError)


class _Query(recurring_ical_events.CalendarQuery):  # type: ignore[misc]  # untyped library
    """Skips a broken series (`skip_bad_series`) for any of `_MALFORMED`, not only the
    library's own three errors, so one bad VEVENT does not stop a space's import."""

    suppressed_errors = list(_MALFORMED)


class FeedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One occurrence read from a feed, already fitted to the limits of `Event`.

    `start`/`end` are UTC instants; `tz` is the zone the feed announced it in.
    """

    record_id: str
    source_uid: str
    title: str
    description: str = ""
    start: dt.datetime
    end: dt.datetime
    tz: str
    place: Place = Place()
    tags: list[str] = []


class FetchResult(msgspec.Struct, frozen=True):
    """A conditional GET's outcome; keep `etag`/`last_modified` for the next one."""

    changed: bool
    body: bytes
    etag: str
    last_modified: str


class Plan(msgspec.Struct):
    """What an import does to the space's records; `update` pairs carry the previous one."""

    create: list[FeedEvent]
    update: list[tuple[FeedEvent, Event]]
    cancel: list[Event]


def parse(
    body: bytes, *, now: dt.datetime, weeks: int = 8, default_tz: str = "Asia/Tokyo"
) -> list[FeedEvent]:
    """The feed's live occurrences that overlap [now - 1 day, now + weeks], by start.

    Floating and all-day times are read in the feed's X-WR-TIMEZONE, else `default_tz`.
    A malformed VEVENT (or series) is dropped; only a body that is not iCalendar at all
    raises `BadInput`. CPU-bound and it reads zone files: from async code, run it in a
    thread (`asyncio.to_thread`).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        cal = icalendar.Calendar.from_ical(body)
    except _MALFORMED as e:
        raise BadInput(f"this is not an iCalendar feed: {e}"[:300], field="url") from e
    # from_ical returns whatever component the text holds, e.g. a VCARD.
    if cal.name != "VCALENDAR":
        raise BadInput(f"this is not an iCalendar feed (found {cal.name})", field="url")
    feed_zone = _zone(str(cal.get("X-WR-TIMEZONE", "")))
    if feed_zone is None:
        # x_wr_timezone (run by `of`) raises on a zone it cannot find, "Asia" or "Foo/Bar".
        cal.pop("X-WR-TIMEZONE", None)
    zone = feed_zone or _zone(default_tz) or ZoneInfo("UTC")
    _normalise(cal)
    # A one-off VEVENT is one record whatever its start: moving it must keep its RSVPs.
    series = {str(c.get("UID", "")) for c in cal.walk("VEVENT") if "RRULE" in c or "RDATE" in c or "RECURRENCE-ID" in c}
    try:
        # x_wr_timezone (run by `of`) moves UTC and floating times into X-WR-TIMEZONE.
        query = recurring_ical_events.of(cal, skip_bad_series=True, calendar_query=_Query)
        utc_now = now.astimezone(dt.UTC)  # both bounds in one zone, as `between` asks
        components = query.between(utc_now - _SLACK, utc_now + dt.timedelta(weeks=weeks))
    except _MALFORMED as e:
        raise BadInput(f"this is not an iCalendar feed: {e}"[:300], field="url") from e
    found: dict[str, FeedEvent] = {}
    for component in components:
        # Raw text: the typed `.status` raises on a value outside the enum.
        if str(component.get("STATUS", "")).strip().upper() == "CANCELLED":
            continue  # a cancelled occurrence is as good as removed from the feed
        try:
            event = _feed_event(component, zone, recurring=str(component.get("UID", "")) in series)
        except _MALFORMED:  # skip this occurrence, not the feed
            continue
        found.setdefault(event.record_id, event)
    return sorted(found.values(), key=lambda e: (e.start, e.record_id))


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    timeout: float = 20,
) -> FetchResult:
    """GET the feed unless it is unchanged since `etag`/`last_modified` (then 304).

    Every failure is a `BadInput` on "url" with a plain message: the caller logs it and
    tries again later; nothing here retries.
    """
    try:
        target = yarl.URL(url)
    except ValueError as e:
        raise BadInput("the feed url is not a valid URL", field="url") from e
    if target.scheme not in ("http", "https") or not target.host:
        raise BadInput("the feed url must be an http(s) URL", field="url")
    headers = {"Accept": "text/calendar, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with session.get(
            target, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            new_etag = resp.headers.get("ETag", etag)
            new_modified = resp.headers.get("Last-Modified", last_modified)
            if resp.status == 304:
                return FetchResult(False, b"", new_etag, new_modified)
            if not 200 <= resp.status < 300:
                raise BadInput(f"the feed answered HTTP {resp.status}", field="url")
            body = await _read_capped(resp)
    except TimeoutError as e:
        raise BadInput(f"the feed did not answer within {timeout:g} s", field="url") from e
    except aiohttp.ClientError as e:
        raise BadInput(f"could not fetch the feed: {e or type(e).__name__}", field="url") from e
    return FetchResult(True, body, new_etag, new_modified)


def plan(
    feed: Sequence[FeedEvent], existing: Mapping[str, Event], *, now: dt.datetime,
    removed: Collection[str] = (),
) -> Plan:
    """Sort the feed against the previous import (`existing`, by record id).

    A record the feed no longer has is cancelled only if it has not ended by `now`:
    the past stays as it happened (and a feed window never reaches far back anyway).
    A cancelled record comes back when the feed lists it again only if the import called
    it off (`removed`): an operator's cancel is the operator's word, whatever the feed says.
    """
    out = Plan(create=[], update=[], cancel=[])
    for fe in feed:
        prev = existing.get(fe.record_id)
        if prev is None:
            out.create.append(fe)
        elif prev.status == "cancelled":
            if fe.record_id in removed:
                out.update.append((fe, prev))
        elif _differs(fe, prev):
            out.update.append((fe, prev))
    seen = {fe.record_id for fe in feed}
    out.cancel = sorted(
        (
            ev
            for rid, ev in existing.items()
            if rid not in seen
            and ev.source_uid  # only what an import made; a hand-made event is not ours
            and ev.status != "cancelled"
            and ev.end > now
        ),
        key=lambda ev: (ev.start, ev.id),
    )
    return out


def to_event(fe: FeedEvent, *, space: str, prev: Event | None) -> Event:
    """The record for an occurrence, "scheduled" when new and "updated" when changed.

    Only the fields the feed owns are taken from it; the rest of `prev` (seats, RSVP
    counts, joint id, language, and whatever field is added later) survives re-imports.
    """
    if prev is None:
        return Event(
            id=fe.record_id,
            space=space,
            title=fe.title,
            description=fe.description,
            start=fe.start,
            end=fe.end,
            tz=fe.tz,
            place=fe.place,
            tags=list(fe.tags),
            source_uid=fe.source_uid,
        )
    owned = {name: getattr(fe, name) for name in _FEED_OWNED}
    return msgspec.structs.replace(prev, **owned, tags=list(fe.tags), status="updated")


_ONE_OFF: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # the slot of every one-off VEVENT


def record_id(uid: str, start: dt.datetime) -> str:
    """Stable id of one occurrence: the same UID and slot give the same record."""
    key = f"{uid}|{start.astimezone(dt.UTC).isoformat()}"
    return "ics-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _differs(fe: FeedEvent, prev: Event) -> bool:
    # Datetimes compare as instants, so a zone-only difference in representation is equal.
    return any(getattr(fe, name) != getattr(prev, name) for name in (*_FEED_OWNED, "tags"))


def _normalise(cal: icalendar.Calendar) -> None:
    """Drop or repair the VEVENTs recurring_ical_events would crash on or misread.

    It groups by UID before its per-series error handling (a repeated UID line is a list,
    which crashes it), raises KeyError without DTSTART, and ends an event with neither
    DTEND nor DURATION at its start (RFC 5545), where we want one hour.
    """
    kept = []
    for sub in cal.subcomponents:
        if sub.name == "VEVENT":
            uid = sub.get("UID")
            if not isinstance(uid, str) or not uid.strip():
                continue  # no single identity to de-duplicate re-imports on
            start = _time_value(sub, "DTSTART", dt.date)
            slot = _time_value(sub, "RECURRENCE-ID", dt.date)
            if start is None or ("RECURRENCE-ID" in sub and slot is None):
                continue
            for name, kind in (("DTEND", dt.date), ("DURATION", dt.timedelta)):
                if name in sub and _time_value(sub, name, kind) is None:
                    del sub[name]  # unparsable or repeated: treat as missing
            if "DTEND" not in sub and "DURATION" not in sub and isinstance(start, dt.datetime):
                sub.add("DURATION", _DEFAULT_LENGTH)
        kept.append(sub)
    cal.subcomponents = kept


def _time_value(
    component: icalendar.Component, name: str, kind: type[dt.date] | type[dt.timedelta]
) -> dt.date | dt.timedelta | None:
    """The property's value if it is there once and of `kind` (a vBroken or list is not)."""
    prop = component.get(name)
    if not isinstance(prop, icalendar.vDDDTypes):
        return None
    value = prop.dt
    return value if isinstance(value, kind) else None


def _feed_event(component: icalendar.Event, zone: ZoneInfo, *, recurring: bool = True) -> FeedEvent:
    uid = component.uid
    start = _instant(component.start, zone)
    end = _instant(component.end, zone)
    # recurring_ical_events puts the occurrence's original slot in RECURRENCE-ID (also on
    # a one-off, equal to its start), so a moved occurrence keeps its record and RSVPs.
    slot = component.RECURRENCE_ID
    key = _instant(slot, zone) if isinstance(slot, dt.date) else start
    if not recurring:
        key = _ONE_OFF
    dtstart = component.get("DTSTART")
    announced = _announced_zone(dtstart) if isinstance(dtstart, icalendar.vDDDTypes) else None
    return FeedEvent(
        record_id=record_id(uid, key),
        source_uid=uid[:1000],
        title=(component.summary or "").strip()[:200] or "(untitled)",
        description=(component.description or "").strip()[:8000],
        start=start,
        end=max(end, start),
        tz=announced or zone.key,
        place=_place(component),
        tags=_tags(component),
    )


def _announced_zone(start: icalendar.vDDDTypes) -> str | None:
    """The IANA name of DTSTART's TZID, if it has one.

    icalendar already resolved the TZID (Windows names like "Tokyo Standard Time"
    included) to a tzinfo; prefer that zone's key, then the TZID text itself.
    """
    tzid = start.params.get("TZID")
    if not tzid:
        return None
    key = getattr(getattr(start.dt, "tzinfo", None), "key", None)
    for name in (key, tzid):
        if isinstance(name, str) and _zone(name) is not None:
            return name
    return None


def _instant(value: dt.date, zone: ZoneInfo) -> dt.datetime:
    """UTC instant of an iCalendar time: a date is midnight and floating is in `zone`."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time(), tzinfo=zone)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(dt.UTC)


def _place(component: icalendar.Event) -> Place:
    location = (component.location or "").strip()
    url = (component.url or "").strip()
    room = location
    if _URL.match(location):
        room, url = "", url or location
    if not _URL.match(url) or len(url) > 500:
        url = ""
    room = room[:200]
    mode: Literal["onsite", "online", "hybrid"] = (
        "hybrid" if room and url else "online" if url else "onsite"
    )
    return Place(mode=mode, room=room, url=url)


def _tags(component: icalendar.Event) -> list[str]:
    """CATEGORIES fitted to the Tag pattern: no whitespace or commas, at most 40 chars."""
    tags = (_TAG_JUNK.sub("-", c).strip("-")[:40] for c in component.categories)
    return list(dict.fromkeys(t for t in tags if t))[:20]  # Event allows 20


def _zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Asia" is a directory: OSError
        return None


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    if resp.content_length is not None and resp.content_length > MAX_BODY:
        raise BadInput("the feed is larger than 5 MiB", field="url")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY:  # Content-Length may be absent or, after gzip, smaller
            raise BadInput("the feed is larger than 5 MiB", field="url")
        chunks.append(chunk)
    return b"".join(chunks)
