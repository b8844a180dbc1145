"""RSVPs: a member of any space signs up for any space's event; the host decides.

The member's space sends an `Rsvp` dm to the host. The host applies the one rule,
`decide`, in the same transaction that applies the dm: a seat if one is free, else the
waitlist; a cancellation frees a seat for the first on the waitlist. It answers each
changed attendee's space with an `RsvpStatus` dm and re-publishes the event with its new
counts, all through the outbox. The RSVP id is derived from (event, member), so the same
member signing up twice is one RSVP, and a redelivered dm is a version already held.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any, Final, Literal, NamedTuple

import msgspec

from node.errors import Conflict, NotFound
from node.events import rules as events
from node.federation import outbox, records
from node.federation.directory import box_key_of
from node.federation.identity import Identity
from node.federation.intake import Rejection
from node.members import rules as members
from node.store import Store, Tx
from schemas.envelope import Header
from schemas.event import Event, Rsvp, RsvpInput, RsvpStatus

__all__ = ["rsvp_id", "request", "on_rsvp", "mine", "attendees", "cancel_event", "after_capacity_change"]

KIND: Final = "rsvp"
STATUS_KIND: Final = "rsvp_status"
EVENT_CANCELLED: Final = "the event was cancelled"


class _Change(NamedTuple):
    """What the host tells one attendee's space."""

    space: str
    rsvp_id: str
    box_key: bytes
    status: str
    reason: str
    answers: int  # the RSVP version decided


def rsvp_id(event: Event, member: str) -> str:
    return "r-" + hashlib.sha256(f"{event.space}|{event.id}|{member}".encode()).hexdigest()[:24]


def check_open(event: Event, now: dt.datetime) -> None:
    """The rule for signing up: not to a cancelled event, not to one that has ended."""
    if event.status == "cancelled":
        raise Conflict("the event is cancelled", field="event")
    if event.end <= now:
        raise Conflict("the event is over", field="event")


async def request(store: Store, ident: Identity, secret: bytes, event_id: str, inp: RsvpInput) -> dict[str, Any]:
    """Sign up (or cancel) a member of this space for an event of any space."""
    event, _ = await events.find(store, event_id)
    member = await members.get(store, inp.member, field="member")
    if not inp.cancel:
        check_open(event, dt.datetime.now(dt.UTC))
    fid = members.federation_id(secret, member["id"])
    rid = rsvp_id(event, fid)
    name = member["name"] if member["share_name"] else ""
    status: Literal["requested", "cancelled"] = "cancelled" if inp.cancel else "requested"

    def unit(tx: Tx) -> None:
        if event.space == ident.space:
            decide(tx, ident, event.id, space=ident.space, rid=rid, member=fid,
                   display_name=name, box_key=ident.box_key, status=status, version=0)
            return
        host_key = box_key_of(tx, event.space)
        if host_key is None:
            raise NotFound(f"space {event.space!r} is not in the directory yet", field="event")
        version = records.version_of(tx, ident.space, KIND, rid) + 1
        body = Rsvp(author=ident.space, to=event.space, record_id=rid, version=version,
                    event_id=event.id, member=fid, display_name=name, status=status)
        outbox.append(tx, ident, kind=KIND, record_id=rid, version=version, body=body,
                      channel=event.space, recipient_box_key=host_key)

    await store.transact(unit)
    return await _one(store, ident.space, rid, event, member["id"])


def on_rsvp(
    tx: Tx, ident: Identity, header: Header, body: msgspec.Struct, sender_box_key: bytes
) -> None:
    """Reactor: an Rsvp dm was applied at the host; decide in the same transaction."""
    assert isinstance(body, Rsvp)
    held = events.find_in(tx, ident.space, body.event_id)
    if held is not None and body.record_id != rsvp_id(held[0], body.member):
        # One member, one RSVP: a space cannot take many seats by inventing ids.
        raise Rejection("bad_body", "the RSVP id does not belong to its member", author=header.author)
    decide(tx, ident, body.event_id, space=header.author, rid=body.record_id, member=body.member,
                 display_name=body.display_name, box_key=sender_box_key, status=body.status,
                 version=header.version)


def decide(
    tx: Tx, ident: Identity, event_id: str, *, space: str, rid: str, member: str,
    display_name: str, box_key: bytes, status: str, version: int,
) -> None:
    """The host's decision on one RSVP (`version` of it), in the apply transaction."""
    held = events.find_in(tx, ident.space, event_id)
    now = time.time()
    changed: list[_Change] = []
    row = tx.one(
        "SELECT status, rsvp_version FROM attendees WHERE event_id = ? AND space = ? AND rsvp_id = ?",
        (event_id, space, rid),
    )
    before = row[0] if row else None
    if held is None:
        changed.append(_Change(space, rid, box_key, "refused", "no such event at this space", version))
    elif status == "requested":
        event = held[0]
        try:
            check_open(event, dt.datetime.now(dt.UTC))
        except Conflict as e:
            changed.append(_Change(space, rid, box_key, "refused", e.message, version))
        else:
            if before not in ("confirmed", "waitlisted"):
                seated = event.capacity is None or _count(tx, event_id, "confirmed") < event.capacity
                new = "confirmed" if seated else "waitlisted"
                tx.execute(
                    "INSERT INTO attendees (event_id, space, rsvp_id, member, display_name, box_key, status,"
                    " position, updated_at, rsvp_version) VALUES (?, ?, ?, ?, ?, ?, ?,"
                    " (SELECT coalesce(max(position), 0) + 1 FROM attendees WHERE event_id = ?), ?, ?)"
                    " ON CONFLICT (event_id, space, rsvp_id) DO UPDATE SET status = excluded.status,"
                    " position = excluded.position, display_name = excluded.display_name,"
                    " updated_at = excluded.updated_at, rsvp_version = excluded.rsvp_version",
                    (event_id, space, rid, member, display_name, box_key, new, event_id, now, version),
                )
                changed.append(_Change(space, rid, box_key, new, "", version))
            elif row is not None and version > int(row[1]):
                # Signed up again while seated or waiting: the place stands; say so, so
                # that the member's space knows this sign-up is answered too.
                tx.execute(
                    "UPDATE attendees SET rsvp_version = ? WHERE event_id = ? AND space = ? AND rsvp_id = ?",
                    (version, event_id, space, rid),
                )
                changed.append(_Change(space, rid, box_key, before, "", version))
    elif before in ("confirmed", "waitlisted"):  # a cancellation
        tx.execute(
            "UPDATE attendees SET status = 'cancelled', updated_at = ?, rsvp_version = ?"
            " WHERE event_id = ? AND space = ? AND rsvp_id = ?",
            (now, version, event_id, space, rid),
        )
        changed.append(_Change(space, rid, box_key, "cancelled", "", version))
        if before == "confirmed" and held is not None:
            changed += _promote(tx, held[0], now)
    if held is not None and any(c.status in ("confirmed", "waitlisted", "cancelled") for c in changed):
        _republish(tx, ident, *held)
    _answer(tx, ident, event_id, changed)


def _answer(tx: Tx, ident: Identity, event_id: str, changed: list[_Change]) -> None:
    """Tell each attendee's space what became of its RSVP (sealed to its current key)."""
    for to, r, key, st, reason, answers in changed:
        if to == ident.space:
            continue
        current = box_key_of(tx, to)
        version = records.version_of(tx, ident.space, STATUS_KIND, r) + 1
        body = RsvpStatus(author=ident.space, to=to, record_id=r, version=version, event_id=event_id,
                          status=st, reason=reason, answers=answers)  # type: ignore[arg-type]
        outbox.append(tx, ident, kind=STATUS_KIND, record_id=r, version=version, body=body,
                      channel=to, recipient_box_key=current or key)


def cancel_event(tx: Tx, ident: Identity, event: Event, version: int) -> None:
    """The host cancels: every seat and waitlist place is cancelled, and their spaces told."""
    new = events.cancel(event)
    rows = tx.all(
        "SELECT space, rsvp_id, box_key, rsvp_version FROM attendees"
        " WHERE event_id = ? AND status IN ('confirmed', 'waitlisted')",
        (event.id,),
    )
    tx.execute(
        "UPDATE attendees SET status = 'cancelled', updated_at = ? WHERE event_id = ? AND status IN ('confirmed', 'waitlisted')",
        (time.time(), event.id),
    )
    events.save(tx, ident, msgspec.structs.replace(new, confirmed=0, waitlisted=0), version + 1)
    _answer(tx, ident, event.id, [_Change(r[0], r[1], bytes(r[2]), "cancelled", EVENT_CANCELLED, int(r[3])) for r in rows])


def _count(tx: Tx, event_id: str, status: str) -> int:
    return int(tx.scalar("SELECT count(*) FROM attendees WHERE event_id = ? AND status = ?", (event_id, status)) or 0)


def _promote(tx: Tx, event: Event, now: float) -> list[_Change]:
    """Seats freed (a cancellation, a raised capacity) go to the waitlist in order."""
    out: list[_Change] = []
    if event.status == "cancelled" or event.end <= dt.datetime.now(dt.UTC):
        return out  # nobody is seated at an event that is off or over
    while event.capacity is None or _count(tx, event.id, "confirmed") < event.capacity:
        row = tx.one(
            "SELECT space, rsvp_id, box_key, rsvp_version FROM attendees WHERE event_id = ? AND status = 'waitlisted'"
            " ORDER BY position LIMIT 1", (event.id,)
        )
        if row is None:
            break
        tx.execute(
            "UPDATE attendees SET status = 'confirmed', updated_at = ? WHERE event_id = ? AND space = ? AND rsvp_id = ?",
            (now, event.id, row[0], row[1]),
        )
        out.append(_Change(row[0], row[1], bytes(row[2]), "confirmed", "a seat came free", int(row[3])))
    return out


def _republish(tx: Tx, ident: Identity, event: Event, version: int) -> None:
    confirmed = _count(tx, event.id, "confirmed")
    waitlisted = _count(tx, event.id, "waitlisted")
    if (confirmed, waitlisted) != (event.confirmed, event.waitlisted):
        new = msgspec.structs.replace(event, confirmed=confirmed, waitlisted=waitlisted)
        events.save(tx, ident, new, version + 1)


def after_capacity_change(tx: Tx, ident: Identity, event: Event, version: int) -> None:
    """The host raised the capacity: seat the waitlist, tell their spaces, re-count."""
    _answer(tx, ident, event.id, _promote(tx, event, time.time()))
    _republish(tx, ident, event, version)


async def attendees(store: Store, event_id: str) -> list[dict[str, Any]]:
    """The host's list: for visitors only what they agreed to share."""
    rows = await store.all(
        "SELECT space, rsvp_id, member, display_name, status, position FROM attendees"
        " WHERE event_id = ? ORDER BY position", (event_id,)
    )
    return [dict(r) for r in rows]


async def _one(store: Store, me: str, rid: str, event: Event, member_id: str) -> dict[str, Any]:
    for r in await mine(store, me, secret=None, event_id=event.id):
        if r["rsvp_id"] == rid:
            return {**r, "member": member_id}
    return {"rsvp_id": rid, "event_id": event.id, "host": event.space, "status": "requested", "member": member_id}


async def mine(store: Store, me: str, *, secret: bytes | None, event_id: str | None = None) -> list[dict[str, Any]]:
    """This space's members' RSVPs with the status the host last gave."""
    out: list[dict[str, Any]] = []
    names = {}
    if secret is not None:
        names = {members.federation_id(secret, m["id"]): m["id"] for m in await members.listing(store)}
    # RSVPs to our own events: the attendee list is the truth.
    rows = await store.all(
        "SELECT event_id, rsvp_id, member, status FROM attendees WHERE space = ?"
        + (" AND event_id = ?" if event_id else ""), (me, event_id) if event_id else (me,),
    )
    for r in rows:
        out.append({"rsvp_id": r["rsvp_id"], "event_id": r["event_id"], "host": me,
                    "status": r["status"], "member": names.get(r["member"], r["member"])})
    dec = msgspec.msgpack.Decoder(Rsvp)
    sdec = msgspec.msgpack.Decoder(RsvpStatus)
    for r in await store.all("SELECT body FROM records WHERE author = ? AND kind = ?", (me, KIND)):
        rsvp = dec.decode(r["body"])
        if event_id and rsvp.event_id != event_id:
            continue
        answer = await store.one(
            "SELECT body FROM records WHERE author = ? AND kind = ? AND record_id = ?",
            (rsvp.to, STATUS_KIND, rsvp.record_id),
        )
        told = sdec.decode(answer["body"]) if answer else None
        # Our own cancel stands at once, and so does the host calling the event off;
        # otherwise the host's last word, if it answers this version of the RSVP (an
        # answer to an earlier sign-up or cancel is old news: the host has not decided yet).
        if rsvp.status == "cancelled":
            status = "cancelled"
        elif told is not None and 0 < told.answers < rsvp.version:
            status = "requested"  # e.g. signed up again after the event came back
        elif told is not None and told.reason == EVENT_CANCELLED:
            status = "cancelled"
        elif told is not None and told.status in ("confirmed", "waitlisted", "refused"):
            status = told.status
        else:
            status = "requested"
        out.append({"rsvp_id": rsvp.record_id, "event_id": rsvp.event_id, "host": rsvp.to,
                    "status": status, "member": names.get(rsvp.member, rsvp.member)})
    return out
