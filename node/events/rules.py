"""Events: the rules for creating, editing and cancelling them, and the federated listing.

Rules are plain functions over Structs (testable without a bus); `save` puts an event
through the outbox inside the caller's transaction. Listing reads the replicated event
records and folds the parts of a joint event (同時開催) into one entry with its parts.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Sequence
from typing import Annotated, Any, Final, Literal

import msgspec

from node.errors import BadInput, Conflict, Invalid, NotFound
from node.federation import outbox, records
from node.federation.identity import Identity
from node.federation.intake import Rejection
from node.store import Store, Tx
from schemas.envelope import Header
from schemas.event import Event, EventInput, EventPatch
from schemas.ids import SpaceId
from schemas.time import DateTime

__all__ = ["KIND", "check_record", "MIGRATIONS", "zone", "zone_or_utc", "check_times", "create", "patch", "cancel", "save", "find", "listing", "view", "Filters"]

KIND: Final = "event"
PAST_LIMIT: Final = dt.timedelta(days=366)
FUTURE_LIMIT: Final = dt.timedelta(days=5 * 366)
_dec: Final = msgspec.msgpack.Decoder(Event)
# An event id belongs to its first author: a copy held under another author (kept by a
# node from before ownership was checked at every version) is never shown.
_OWNED: Final = ("LEFT JOIN owners o ON o.kind = r.kind AND o.record_id = r.record_id"
                 " AND o.author != r.author WHERE o.author IS NULL AND")

MIGRATIONS: Final = (
    # 1: the host's attendee lists, imported calendar feeds (IF NOT EXISTS: databases of
    #    the development series made these already)
    """
    CREATE TABLE IF NOT EXISTS attendees (
        event_id TEXT NOT NULL,
        space TEXT NOT NULL,
        rsvp_id TEXT NOT NULL,
        member TEXT NOT NULL,
        display_name TEXT NOT NULL,
        box_key BLOB NOT NULL,
        status TEXT NOT NULL,
        position INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        rsvp_version INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (event_id, space, rsvp_id)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS attendees_queue ON attendees (event_id, status, position);
    CREATE TABLE IF NOT EXISTS feeds (
        url TEXT PRIMARY KEY,
        etag TEXT NOT NULL DEFAULT '',
        last_modified TEXT NOT NULL DEFAULT '',
        polled_at REAL,
        imported INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        added_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS feed_removed (record_id TEXT PRIMARY KEY);
    """,
)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone(name: str) -> zoneinfo.ZoneInfo:
    """An IANA zone by name ("Asia/Tokyo"); not a directory ("Asia"), not posix/ or right/."""
    if name not in _zones() or name.startswith(("posix/", "right/")):
        raise Invalid(f"{name!r} is not a known time zone (e.g. Asia/Tokyo)", field="tz")
    return zoneinfo.ZoneInfo(name)


def zone_or_utc(name: str) -> dt.tzinfo:
    """For read paths: a record from a peer with a newer tzdata must not break a listing."""
    try:
        return zone(name)
    except BadInput:
        return dt.UTC


def _instant(value: dt.datetime, tz: zoneinfo.ZoneInfo, field: str) -> dt.datetime:
    """A time without an offset is read in the event's zone; stored as UTC."""
    try:
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise Invalid("that time cannot be represented", field=field) from None


def check_times(start: dt.datetime, end: dt.datetime, *, now: dt.datetime | None = None) -> None:
    """The rule for an event's times; also applied to events received from peers."""
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("times need a time zone", field="start")
    now = now or dt.datetime.now(dt.UTC)
    if not now - PAST_LIMIT <= start <= now + FUTURE_LIMIT:
        raise Invalid("an event starts within a year back and five years ahead", field="start")
    if end <= start:
        raise Invalid("the end must be after the start", field="end")
    if end - start > dt.timedelta(days=31):
        raise Invalid("an event lasts at most 31 days", field="end")


def create(space: str, inp: EventInput, event_id: str) -> Event:
    tz = zone(inp.tz)
    start, end = _instant(inp.start, tz, "start"), _instant(inp.end, tz, "end")
    check_times(start, end)
    return Event(
        id=event_id, space=space, title=inp.title, description=inp.description, start=start,
        end=end, tz=inp.tz, place=inp.place, capacity=inp.capacity, tags=inp.tags,
        language=inp.language, joint_id=event_id if inp.joint and not inp.joint_id else inp.joint_id,
    )


def patch(event: Event, p: EventPatch) -> Event:
    if event.status == "cancelled":
        raise Conflict("a cancelled event cannot be edited", field="id")
    changes = {k: v for k, v in msgspec.structs.asdict(p).items() if v is not msgspec.UNSET}
    tz_name = changes.get("tz", event.tz)
    tz = zone(tz_name)
    for f in ("start", "end"):
        if f in changes:
            changes[f] = _instant(changes[f], tz, f)
    if not changes:
        return event  # nothing to change: no new version
    new = msgspec.structs.replace(event, **changes, status="updated")
    check_times(new.start, new.end)
    if new.capacity is not None and new.capacity < event.confirmed:
        raise Invalid(
            f"capacity {new.capacity} is below the {event.confirmed} attendees already confirmed",
            field="capacity",
        )
    return new


def cancel(event: Event) -> Event:
    if event.status == "cancelled":
        raise Conflict("the event is already cancelled", field="id")
    return msgspec.structs.replace(event, status="cancelled")


def check_record(h: Header, body: msgspec.Struct, signer: bytes) -> None:
    """An event from a peer: hosted by its author under its own id, with sane times."""
    assert isinstance(body, Event)
    if body.space != h.author or body.id != h.record_id:
        raise Rejection("header_mismatch", "an event must be hosted by its author, under its own id", author=h.author)
    zone(body.tz)
    check_times(body.start, body.end, now=body.start)  # the same rules as ours, but it may be old
    if body.confirmed < 0 or body.waitlisted < 0:
        raise Invalid("event counts cannot be negative", field="confirmed")


def save(tx: Tx, ident: Identity, event: Event, version: int) -> None:
    outbox.append(tx, ident, kind=KIND, record_id=event.id, version=version, body=event)


async def find(store: Store, event_id: str, *, prefer: str = "") -> tuple[Event, int]:
    """An event by id; this space's own first (replicas refuse a second author of an id)."""
    row = await store.one(
        f"SELECT r.body, r.version FROM records r {_OWNED} r.kind = ? AND r.record_id = ?"
        " ORDER BY r.author = ? DESC LIMIT 1", (KIND, event_id, prefer)
    )
    if row is None:
        raise NotFound(f"no event {event_id!r}", field="id")
    return _dec.decode(row["body"]), int(row["version"])


def find_in(tx: Tx, author: str, event_id: str) -> tuple[Event, int] | None:
    return records.get_in(tx, author, KIND, event_id, Event)


def view(event: Event, version: int) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(event)
    out.pop("type", None)
    out["version"] = version
    zi = zone_or_utc(event.tz)
    out["local_start"] = event.start.astimezone(zi).isoformat()
    out["local_end"] = event.end.astimezone(zi).isoformat()
    return out


class Filters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Query of GET /api/events and /calendar.ics."""

    start: DateTime | None = msgspec.field(default=None, name="from")
    to: DateTime | None = None
    space: SpaceId | None = None
    tag: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    joint: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    status: Literal["active", "scheduled", "updated", "cancelled"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50
    offset: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0

    def in_zone(self, tz: dt.tzinfo) -> Filters:
        """`from`/`to` given without an offset are read in `tz` (the space's own zone)."""
        start = self.start.replace(tzinfo=tz) if self.start and not self.start.tzinfo else self.start
        to = self.to.replace(tzinfo=tz) if self.to and not self.to.tzinfo else self.to
        return msgspec.structs.replace(self, start=start, to=to)

    def keep(self, e: Event, joint_id: str) -> bool:
        if self.start is not None and e.end < _aware(self.start):
            return False
        if self.to is not None and e.start > _aware(self.to):
            return False
        if self.space is not None and e.space != self.space:
            return False
        if self.tag is not None and self.tag not in e.tags:
            return False
        if self.joint is not None and joint_id != self.joint:
            return False
        if self.status == "active":
            return e.status != "cancelled"
        return self.status is None or e.status == self.status


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)  # HTTP filters come through in_zone


async def all_events(store: Store) -> list[tuple[Event, int]]:
    rows = await store.all(f"SELECT r.body, r.version FROM records r {_OWNED} r.kind = ?", (KIND,))
    return [(_dec.decode(r["body"]), int(r["version"])) for r in rows]


async def last_changed(store: Store) -> float | None:
    """When this node last took in an event (own or a peer's): Last-Modified of listings."""
    at = await store.scalar("SELECT max(updated_at) FROM records WHERE kind = ?", (KIND,))
    return None if at is None else float(at)


def joint_ids(events: Sequence[tuple[Event, int]]) -> dict[str, str]:
    """Each event's joint id. The lead part need not name one: parts name the lead's id."""
    leads = {e.joint_id for e, _ in events if e.joint_id}
    return {e.id: e.joint_id or (e.id if e.id in leads else "") for e, _ in events}


def group(events: Sequence[tuple[Event, int]]) -> list[dict[str, Any]]:
    """One entry per event; the parts of a joint event fold into one entry with `parts`."""
    jids = joint_ids(events)
    joint: dict[str, list[tuple[Event, int]]] = {}
    entries: list[dict[str, Any]] = []
    for e, v in events:
        if jids[e.id]:
            joint.setdefault(jids[e.id], []).append((e, v))
        else:
            entries.append(view(e, v))
    for jid, parts in joint.items():
        parts.sort(key=lambda p: (p[0].id != jid, p[0].start, p[0].space))
        lead = view(*parts[0])
        lead["joint"] = True
        lead["joint_id"] = jid
        live = [p for p in parts if p[0].status != "cancelled"] or parts
        lead["start"] = msgspec.to_builtins(min(p[0].start for p in live))
        lead["end"] = msgspec.to_builtins(max(p[0].end for p in live))
        lead["parts"] = [view(*p) for p in parts]
        entries.append(lead)
    entries.sort(key=lambda x: (x["start"], x["id"]))
    return entries


def select(everything: Sequence[tuple[Event, int]], f: Filters) -> list[tuple[Event, int]]:
    """The events a filter keeps; a joint event is kept whole when any of its parts matches."""
    jids = joint_ids(everything)
    hit = {jids[e.id] for e, _ in everything if jids[e.id] and f.keep(e, jids[e.id])}
    return [(e, v) for e, v in everything if (jids[e.id] in hit if jids[e.id] else f.keep(e, ""))]


async def listing(store: Store, f: Filters) -> dict[str, Any]:
    """Filtered, grouped and paged."""
    entries = group(select(await all_events(store), f))
    page = entries[f.offset : f.offset + f.limit]
    nxt = f.offset + f.limit if f.offset + f.limit < len(entries) else None
    return {"events": page, "total": len(entries), "next_offset": nxt}
