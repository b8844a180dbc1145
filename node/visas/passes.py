"""Visa passes at the member's home space: issued, listed, revoked, and the standing it vouches for.

A pass is a signed token ("HV1:" + base45 COSE_Sign1) the member carries; the home keeps
a row per pass (its index in the status list, its validity, whether it was revoked) and
republishes its status list in the same transaction as an issue or a revocation. The
display name goes into a pass only if the member shares it, and only if the QR code stays
within version 10 with it; otherwise the pass says nothing of the name.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import secrets
import time
from typing import Any, Final

from node.errors import Conflict, Invalid, NotFound
from node.federation.identity import Identity
from node.federation.signed_token import issue as sign_token
from node.members import rules as members
from node.store import Store, Tx
from node.visas import status
from node.web.qr import QrCode, render
from schemas.visa import PassInput, Standing

__all__ = ["PREFIX", "CHANGED", "MIGRATIONS", "issue", "revoke", "listing", "get", "standing", "qr", "holders"]

PREFIX: Final = "HV1:"
# The commit topic of the visa books: a pass issued or revoked, a visit booked, checked
# out, applied from the host or acknowledged by the home, a check-in refused. Every
# transaction that changes them notifies it; the open visa pages render again on it.
CHANGED: Final = "visas"

MIGRATIONS: Final = (
    """
    CREATE TABLE visa_passes (
        id TEXT PRIMARY KEY,
        member_id TEXT NOT NULL,
        member TEXT NOT NULL,
        idx INTEGER NOT NULL UNIQUE,
        tier TEXT NOT NULL,
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        revoked_at REAL,
        name_in_pass INTEGER NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX visa_passes_member ON visa_passes (member_id);
    CREATE TABLE visits (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        home TEXT NOT NULL,
        pass_id TEXT NOT NULL,
        member TEXT NOT NULL,
        display_name TEXT NOT NULL,
        day TEXT NOT NULL,
        month TEXT NOT NULL,
        checked_in_at REAL NOT NULL,
        checked_out_at REAL,
        verified INTEGER NOT NULL,
        free_days INTEGER NOT NULL,
        flags TEXT NOT NULL DEFAULT '[]',
        version INTEGER NOT NULL,
        acked INTEGER NOT NULL DEFAULT 0,
        days_used INTEGER
    );
    CREATE INDEX visits_month ON visits (month, host, home);
    CREATE INDEX visits_member ON visits (member, month);
    CREATE TABLE visa_refusals (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        home TEXT NOT NULL,
        pass_id TEXT NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL
    );
    """,
)


def _view(row: Any) -> dict[str, Any]:
    now = time.time()
    state = "revoked" if row["revoked_at"] is not None else "expired" if row["expires_at"] < now else "active"
    return {
        "id": row["id"], "member_id": row["member_id"], "tier": row["tier"], "status_index": row["idx"],
        "issued_at": dt.datetime.fromtimestamp(row["issued_at"], dt.UTC),
        "expires_at": dt.datetime.fromtimestamp(row["expires_at"], dt.UTC),
        "revoked_at": dt.datetime.fromtimestamp(row["revoked_at"], dt.UTC) if row["revoked_at"] else None,
        "state": state, "name_in_pass": bool(row["name_in_pass"]), "text": row["text"],
    }


def qr(text: str) -> dict[str, Any]:
    """The pass as QR code: SVG markup and PNG bytes in base64 (for JSON)."""
    code = _drawn(text)
    return {"qr_version": code.version, "svg": code.svg, "png": base64.b64encode(code.png).decode()}


@functools.lru_cache(maxsize=8)
def _drawn(text: str) -> QrCode:
    """A pass's text never changes: an open passes page woken by every visit in the
    federation shows the same drawing again instead of drawing it again."""
    return render(text)


def _sign(ident: Identity, fid: str, pid: str, idx: int, tier: str, name: str,
          issued: dt.datetime, expires: dt.datetime) -> tuple[str, bool]:
    """The token text, with the name if it fits a QR code of version 10."""
    extra: dict[str, Any] = {"tier": tier, "idx": idx}
    if name:
        text = sign_token(ident, PREFIX, subject=fid, token_id=bytes.fromhex(pid), issued_at=issued,
                          expires_at=expires, extra={**extra, "name": name})
        try:
            render(text)
            return text, True
        except Invalid:
            pass
    return sign_token(ident, PREFIX, subject=fid, token_id=bytes.fromhex(pid), issued_at=issued,
                      expires_at=expires, extra=extra), False


async def issue(store: Store, ident: Identity, secret: bytes, member_id: str, inp: PassInput) -> dict[str, Any]:
    """A new pass for a member of this space, and the status list that now counts it."""
    member = await members.get(store, member_id)
    fid = members.federation_id(secret, member_id)
    name = member["name"] if member["share_name"] else ""
    pid = secrets.token_hex(8)
    issued = dt.datetime.now(dt.UTC).replace(microsecond=0)
    expires = issued + dt.timedelta(days=inp.days)

    def unit(tx: Tx) -> None:
        idx = int(tx.scalar("SELECT coalesce(max(idx) + 1, 0) FROM visa_passes") or 0)
        text, named = _sign(ident, fid, pid, idx, inp.tier, name, issued, expires)
        tx.execute(
            "INSERT INTO visa_passes (id, member_id, member, idx, tier, issued_at, expires_at, name_in_pass, text)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (pid, member_id, fid, idx, inp.tier, issued.timestamp(), expires.timestamp(), int(named), text),
        )
        status.publish(tx, ident)
        tx.notify(CHANGED)

    await store.transact(unit)
    return await get(store, pid)


async def get(store: Store, pass_id: str, *, member_id: str | None = None) -> dict[str, Any]:
    row = await store.one("SELECT * FROM visa_passes WHERE id = ?", (pass_id,))
    if row is None or (member_id is not None and row["member_id"] != member_id):
        raise NotFound(f"no pass {pass_id!r} at this space", field="id")
    return _view(row)


async def listing(store: Store, member_id: str) -> list[dict[str, Any]]:
    await members.get(store, member_id)
    rows = await store.all("SELECT * FROM visa_passes WHERE member_id = ? ORDER BY idx DESC", (member_id,))
    return [_view(r) for r in rows]


async def holders(store: Store) -> dict[str, str]:
    """Federation id -> local member id, for this space's own books (never sent anywhere)."""
    return {r["member"]: r["member_id"] for r in await store.all("SELECT DISTINCT member, member_id FROM visa_passes")}


async def revoke(store: Store, ident: Identity, pass_id: str, *, member_id: str | None = None) -> dict[str, Any]:
    """Set the pass's bit and publish the list in one unit; revoking twice changes nothing."""
    await get(store, pass_id, member_id=member_id)

    def unit(tx: Tx) -> None:
        cur = tx.execute("UPDATE visa_passes SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                         (time.time(), pass_id))
        if cur.rowcount == 0:
            raise Conflict("this pass is revoked already", field="id")
        status.publish(tx, ident)
        tx.notify(CHANGED)

    await store.transact(unit)
    return await get(store, pass_id)


def standing(tx: Tx, me: str, pass_id: str, member: str, month: str) -> tuple[Standing, int]:
    """What the home vouches for: the pass's standing and the member's visa days this
    month at other spaces (distinct host and day), as this node's books hold them."""
    row = tx.one("SELECT member, revoked_at, expires_at FROM visa_passes WHERE id = ?", (pass_id,))
    if row is None or row["member"] != member:
        # The federation id travels in every pass and request: without a pass of theirs,
        # a caller learns nothing of the member (not even their visa days).
        return "unknown", 0
    days = int(tx.scalar(
        "SELECT count(*) FROM (SELECT DISTINCT host, day FROM visits WHERE home = ? AND host != ?"
        " AND member = ? AND month = ?)", (me, me, member, month)) or 0)
    if row["revoked_at"] is not None:
        return "revoked", days
    if row["expires_at"] < time.time():
        return "expired", days
    return "active", days
