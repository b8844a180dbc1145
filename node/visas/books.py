"""Visits on both books: the host records each one and sends it to the home as a sealed dm;
the home records it on applying, reconciles it, and acknowledges with its flags.

A visit is the host's record (single writer): version 1 the check-in, version 2 the
check-out. The home applies it once per version (the dm chain and the records table make
a redelivery a no-op), checks what the host could not (standing at check-in time, the
member's visa days this month across the federation) and answers with a `VisitAck`
carrying any flag. Flags are unioned on both sides and never removed: an overrun found
after the fact stays on the books. The host also republishes its monthly honoured count
(a number, no member data) with each check-in.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any, Final

import msgspec

from node.errors import Conflict, NotFound
from node.federation import outbox, records
from node.federation.directory import box_key_of
from node.federation.identity import Identity
from node.federation.intake import Rejection
from node.store import Store, Tx
from node.visas.checkin import AlreadyHere, Verified
from node.visas.passes import CHANGED
from schemas.envelope import Header
from schemas.visa import Flag, VisaHonoured, Visit, VisitAck

__all__ = ["KIND", "ACK_KIND", "HONOURED_KIND", "check_in", "check_out", "on_visit", "on_ack", "listing",
           "here_now", "refuse", "refusals", "of_member", "days_used"]

KIND: Final = "visit"
ACK_KIND: Final = "visit_ack"
HONOURED_KIND: Final = "visa_honoured"


def _ts(when: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(when, dt.UTC) if when is not None else None


def _flags(*lists: list[Flag] | list[str]) -> list[Flag]:
    order: list[Flag] = ["overrun", "not_in_standing"]
    got = {f for lst in lists for f in lst}
    return [f for f in order if f in got]


def _visit_of(row: Any, me: str) -> Visit:
    return Visit(
        author=me, to=row["home"], record_id=row["id"], version=int(row["version"]), pass_id=row["pass_id"],
        member=row["member"], display_name=row["display_name"], day=row["day"],
        checked_in_at=_ts(row["checked_in_at"]) or dt.datetime.now(dt.UTC), checked_out_at=_ts(row["checked_out_at"]),
        verified=bool(row["verified"]), free_days=int(row["free_days"]), flags=json.loads(row["flags"]),
    )


def _send(tx: Tx, ident: Identity, visit: Visit) -> None:
    key = box_key_of(tx, visit.to)
    if key is None:
        raise NotFound(f"space {visit.to!r} is not in the directory yet", field="pass")
    outbox.append(tx, ident, kind=KIND, record_id=visit.record_id, version=visit.version, body=visit,
                  channel=visit.to, recipient_box_key=key)


def check_in(tx: Tx, ident: Identity, v: Verified, *, visit_id: str, verified: bool, free_days: int,
             day: str, now: dt.datetime) -> Visit:
    """Record the visit and send it home, in the caller's transaction."""
    me = ident.space
    if tx.one("SELECT 1 FROM visits WHERE host = ? AND pass_id = ? AND checked_out_at IS NULL", (me, v.pass_id)):
        raise AlreadyHere("this visitor is checked in already; check them out first", field="pass")
    month = day[:7]
    tx.execute(
        "INSERT INTO visits (id, host, home, pass_id, member, display_name, day, month, checked_in_at, verified,"
        " free_days, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        (visit_id, me, v.home, v.pass_id, v.member, v.display_name, day, month, now.timestamp(), int(verified),
         free_days),
    )
    visit = _visit_of(tx.one("SELECT * FROM visits WHERE id = ?", (visit_id,)), me)
    _send(tx, ident, visit)
    _honoured(tx, ident, month)
    tx.notify(CHANGED)
    return visit


def check_out(tx: Tx, ident: Identity, visit_id: str, now: dt.datetime) -> Visit:
    me = ident.space
    row = tx.one("SELECT * FROM visits WHERE id = ? AND host = ?", (visit_id, me))
    if row is None:
        raise NotFound(f"no visit {visit_id!r} hosted here", field="id")
    if row["checked_out_at"] is not None:
        raise Conflict("this visitor is checked out already", field="id")
    tx.execute("UPDATE visits SET checked_out_at = ?, version = version + 1 WHERE id = ?", (now.timestamp(), visit_id))
    visit = _visit_of(tx.one("SELECT * FROM visits WHERE id = ?", (visit_id,)), me)
    _send(tx, ident, visit)
    tx.notify(CHANGED)
    return visit


def _honoured(tx: Tx, ident: Identity, month: str) -> None:
    """The month's count of visits hosted, as a public record (no member data)."""
    me = ident.space
    visits = int(tx.scalar("SELECT count(*) FROM visits WHERE host = ? AND month = ?", (me, month)) or 0)
    days = int(tx.scalar("SELECT count(DISTINCT member || '|' || day) FROM visits WHERE host = ? AND month = ?",
                         (me, month)) or 0)
    rid = f"{me}:{month}"
    version = records.version_of(tx, me, HONOURED_KIND, rid) + 1
    outbox.append(tx, ident, kind=HONOURED_KIND, record_id=rid, version=version,
                  body=VisaHonoured(space=me, month=month, visits=visits, days=days))


def check_honoured(h: Header, body: msgspec.Struct, signer: bytes) -> None:
    assert isinstance(body, VisaHonoured)
    if body.space != h.author or h.record_id != f"{h.author}:{body.month}":
        raise Rejection("header_mismatch", "an honoured count must be its author's own", author=h.author)


def on_visit(tx: Tx, ident: Identity, header: Header, body: msgspec.Struct, sender_box_key: bytes) -> None:
    """Reactor at the home: book the visit, reconcile it, acknowledge it (one transaction)."""
    assert isinstance(body, Visit)
    me = ident.space
    if body.to != me or body.author != header.author or body.record_id != header.record_id:
        raise Rejection("header_mismatch", "the visit names another space or record", author=header.author)
    held = tx.one("SELECT host, flags, version FROM visits WHERE id = ?", (body.record_id,))
    if held is not None and held["host"] != header.author:  # also for ids booked before unique_id
        raise Rejection("id_taken", f"visit {body.record_id} belongs to {held['host']}", author=header.author)
    if held is not None and int(held["version"]) >= header.version:
        return  # an older version after a newer one changes nothing
    tx.execute(
        "INSERT INTO visits (id, host, home, pass_id, member, display_name, day, month, checked_in_at,"
        " checked_out_at, verified, free_days, flags, version, acked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        " '[]', ?, ?) ON CONFLICT (id) DO UPDATE SET checked_out_at = excluded.checked_out_at,"
        " version = excluded.version, acked = excluded.acked",
        (body.record_id, header.author, me, body.pass_id, body.member, body.display_name, body.day, body.day[:7],
         body.checked_in_at.timestamp(), body.checked_out_at.timestamp() if body.checked_out_at else None,
         int(body.verified), body.free_days, header.version, header.version),
    )
    days = int(tx.scalar(
        "SELECT count(*) FROM (SELECT DISTINCT host, day FROM visits WHERE home = ? AND host != ? AND member = ?"
        " AND month = ?)", (me, me, body.member, body.day[:7])) or 0)
    found: list[Flag] = []
    if days > body.free_days:
        found.append("overrun")
    p = tx.one("SELECT member, revoked_at, expires_at FROM visa_passes WHERE id = ?", (body.pass_id,))
    at = body.checked_in_at.timestamp()
    if p is None or p["member"] != body.member or (p["revoked_at"] is not None and p["revoked_at"] <= at) \
            or p["expires_at"] < at:
        found.append("not_in_standing")
    flags = _flags(json.loads(held["flags"]) if held else [], body.flags, found)
    tx.execute("UPDATE visits SET flags = ?, days_used = ? WHERE id = ?", (json.dumps(flags), days, body.record_id))
    key = box_key_of(tx, header.author) or sender_box_key
    version = records.version_of(tx, me, ACK_KIND, body.record_id) + 1
    ack = VisitAck(author=me, to=header.author, record_id=body.record_id, version=version, answers=header.version,
                   flags=flags, days_used=days)
    outbox.append(tx, ident, kind=ACK_KIND, record_id=body.record_id, version=version, body=ack,
                  channel=header.author, recipient_box_key=key)
    tx.notify(CHANGED)


def on_ack(tx: Tx, ident: Identity, header: Header, body: msgspec.Struct, sender_box_key: bytes) -> None:
    """Reactor at the host: the home's reconciliation; its flags join the host's."""
    assert isinstance(body, VisitAck)
    if body.to != ident.space or body.record_id != header.record_id:
        raise Rejection("header_mismatch", "the acknowledgement names another space or record", author=header.author)
    row = tx.one("SELECT flags, acked FROM visits WHERE id = ? AND host = ? AND home = ?",
                 (body.record_id, ident.space, header.author))
    if row is None:
        raise Rejection("bad_body", "an acknowledgement of a visit this space did not host", author=header.author)
    flags = _flags(json.loads(row["flags"]), body.flags)
    tx.execute("UPDATE visits SET flags = ?, acked = max(acked, ?), days_used = ? WHERE id = ?",
               (json.dumps(flags), body.answers, body.days_used, body.record_id))
    tx.notify(CHANGED)


def refuse(tx: Tx, home: str, pass_id: str, code: str, message: str) -> None:
    """The one thing a refused check-in leaves: a line for the operator."""
    tx.execute("INSERT INTO visa_refusals (at, home, pass_id, code, message) VALUES (?, ?, ?, ?, ?)",
               (time.time(), home, pass_id, code, message))
    tx.notify(CHANGED)


def _view(row: Any, me: str, names: dict[str, str]) -> dict[str, Any]:
    direction = "hosted" if row["host"] == me else "sent"
    return {
        "id": row["id"], "direction": direction, "host": row["host"], "home": row["home"],
        "partner": row["home"] if direction == "hosted" else row["host"],
        "pass_id": row["pass_id"], "member": names.get(row["member"], row["member"]),
        "display_name": row["display_name"], "day": row["day"],
        "checked_in_at": _ts(row["checked_in_at"]), "checked_out_at": _ts(row["checked_out_at"]),
        "verified": bool(row["verified"]), "reconciled": int(row["acked"]) >= int(row["version"]),
        "version": int(row["version"]), "flags": json.loads(row["flags"]), "days_used": row["days_used"],
    }


async def listing(store: Store, me: str, *, direction: str | None = None, month: str | None = None,
                  space: str | None = None, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    sql, args = "SELECT * FROM visits WHERE 1 = 1", []
    if direction == "hosted":
        sql += " AND host = ?"
        args.append(me)
    elif direction == "sent":
        sql += " AND home = ? AND host != ?"
        args += [me, me]
    if month:
        sql += " AND month = ?"
        args.append(month)
    if space:
        sql += " AND (CASE WHEN host = ? THEN home ELSE host END) = ?"
        args += [me, space]
    rows = await store.all(sql + " ORDER BY checked_in_at DESC", args)
    return [_view(r, me, names or {}) for r in rows]


async def here_now(store: Store, me: str) -> list[dict[str, Any]]:
    rows = await store.all("SELECT * FROM visits WHERE host = ? AND checked_out_at IS NULL ORDER BY checked_in_at",
                           (me,))
    return [_view(r, me, {}) for r in rows]


# The visits of this space's members at other spaces: a visit names the member by federation
# id only; the passes this node issued tie that id to the local member (for its own pages).
_MEMBERS_ABROAD: Final = ("FROM visits v JOIN (SELECT DISTINCT member, member_id FROM visa_passes) p"
                          " ON p.member = v.member WHERE v.home = ? AND v.host != ? AND v.month = ?")


async def of_member(store: Store, me: str, member_id: str, month: str) -> list[dict[str, Any]]:
    """A member's visits at other spaces in `month`, newest first, as their hosts reported them."""
    rows = await store.all(f"SELECT v.* {_MEMBERS_ABROAD} AND p.member_id = ? ORDER BY v.checked_in_at DESC",
                           (me, me, month, member_id))
    return [_view(r, me, {}) for r in rows]


async def days_used(store: Store, me: str, month: str) -> dict[str, int]:
    """Member id -> visa days at other spaces in `month` (distinct host and day: what a
    host's policy counts, as `passes.standing` tells it)."""
    rows = await store.all(f"SELECT p.member_id, count(DISTINCT v.host || '|' || v.day) {_MEMBERS_ABROAD}"
                           " GROUP BY p.member_id", (me, me, month))
    return {r[0]: int(r[1]) for r in rows}


async def refusals(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    rows = await store.all("SELECT * FROM visa_refusals ORDER BY id DESC LIMIT ?", (limit,))
    return [{"at": _ts(r["at"]), "home": r["home"], "pass_id": r["pass_id"], "code": r["code"],
             "message": r["message"]} for r in rows]
