"""This space's book of tickets in SQLite: those it issued, its redemption attempts and
their outcomes, the other spaces' audit records, and its policy for unconfirmed tickets.

Plain functions over a store transaction: an outcome and its audit record (a `pub`
record through the outbox, a new version when a pending attempt settles) commit together.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from node.federation import outbox
from node.federation.identity import Identity
from node.store import Store, Tx
from node.tickets.ticket import Ticket
from schemas.envelope import Header
from schemas.ticket import Policy, State, TicketRedemption

__all__ = ["MIGRATIONS", "KIND", "TOPIC", "save_issued", "begin", "settle", "policy", "set_policy", "pending",
           "issued", "attempts", "on_audit", "Outcome", "known_used",
           "stream_seen", "own_late"]

KIND: Final = "ticket_redemption"
TOPIC: Final = "tickets"  # committed when an attempt is left pending: wakes the settler
DEFAULT_POLICY: Final[Policy] = "admit"

MIGRATIONS: Final = (
    """
    CREATE TABLE tickets_issued (
        id TEXT PRIMARY KEY,
        text TEXT NOT NULL,
        note TEXT NOT NULL,
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE ticket_attempts (
        attempt TEXT PRIMARY KEY,
        ticket TEXT NOT NULL,
        issuer TEXT NOT NULL,
        at REAL NOT NULL,
        record BLOB NOT NULL,              -- the signed redemption, sent again as it is
        state TEXT NOT NULL CHECK (state IN ('redeemed', 'taken', 'pending', 'void')),
        admitted INTEGER NOT NULL DEFAULT 0,
        winner_space TEXT NOT NULL DEFAULT '',
        winner_attempt TEXT NOT NULL DEFAULT '',
        winner_at REAL,
        version INTEGER NOT NULL DEFAULT 0,  -- of its audit record; 0: none sent yet
        why TEXT NOT NULL DEFAULT '',
        settled_at REAL
    );
    CREATE INDEX ticket_attempts_ticket ON ticket_attempts (ticket);
    CREATE INDEX ticket_attempts_pending ON ticket_attempts (state) WHERE state = 'pending';
    CREATE TABLE ticket_audit (
        author TEXT NOT NULL,
        attempt TEXT NOT NULL,
        ticket TEXT NOT NULL,
        issuer TEXT NOT NULL,
        state TEXT NOT NULL,
        admitted INTEGER NOT NULL,
        winner_space TEXT NOT NULL,
        at REAL NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (author, attempt)
    );
    CREATE INDEX ticket_audit_ticket ON ticket_audit (ticket);
    CREATE TABLE ticket_policy (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        when_unconfirmed TEXT NOT NULL
    );
    """,
    # 2: when stream TICKETS was created, as this node first saw it (a re-created one is empty)
    """
    CREATE TABLE tickets_stream (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        created TEXT NOT NULL
    );
    """,
)


class Outcome:
    """What an attempt came to: its state, whether the holder was let in, who holds the ticket."""

    __slots__ = ("state", "admitted", "winner_space", "winner_attempt", "winner_at", "why")

    def __init__(self, state: State, admitted: bool, *, winner_space: str = "", winner_attempt: str = "",
                 winner_at: dt.datetime | None = None, why: str = "") -> None:
        self.state, self.admitted, self.why = state, admitted, why
        self.winner_space, self.winner_attempt, self.winner_at = winner_space, winner_attempt, winner_at


def save_issued(tx: Tx, ticket: Ticket, text: str, note: str) -> None:
    tx.execute("INSERT INTO tickets_issued (id, text, note, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)",
               (ticket.id, text, note, ticket.issued_at.timestamp(), ticket.expires_at.timestamp()))


def begin(tx: Tx, ticket: Ticket, attempt: str, at: dt.datetime, record: bytes) -> None:
    """Kept before it is sent: an attempt the node dies during is settled at the next start."""
    tx.execute("INSERT INTO ticket_attempts (attempt, ticket, issuer, at, record, state) VALUES (?, ?, ?, ?, ?, ?)",
               (attempt, ticket.id, ticket.issuer, at.timestamp(), record, "pending"))


def known_used(tx: Tx, me: str, ticket_id: str) -> Outcome | None:
    """The ticket as this space already knows it used, as the outcome of a new attempt, or
    None: redeemed or taken by an attempt here, a holder let in here while the federation
    could not answer, or a redemption another space published. Checked before any claim, so
    a space cut off from the cluster does not admit the same ticket twice."""
    row = tx.one(
        "SELECT space, att, at, how FROM ("
        " SELECT winner_space AS space, winner_attempt AS att, winner_at AS at, state AS how FROM ticket_attempts"
        "  WHERE ticket = ? AND state IN ('redeemed', 'taken') AND winner_space != ''"
        " UNION ALL SELECT ?, attempt, at, 'pending' FROM ticket_attempts"
        "  WHERE ticket = ? AND state = 'pending' AND admitted = 1"
        " UNION ALL SELECT author, attempt, at, 'audit' FROM ticket_audit WHERE ticket = ? AND state = 'redeemed'"
        ") ORDER BY at LIMIT 1", (ticket_id, me, ticket_id, ticket_id))
    if row is None:
        return None
    why = ("its holder was let in here while the federation could not be reached; not confirmed yet"
           if row["how"] == "pending" else "")
    at = dt.datetime.fromtimestamp(row["at"], dt.UTC) if row["at"] is not None else None
    return Outcome("taken", False, winner_space=row["space"], winner_attempt=row["att"], winner_at=at, why=why)


def stream_seen(tx: Tx, created: str) -> str:
    """When stream TICKETS was created as this node first saw it (kept from now on if this
    is the first time). Another time means the stream was deleted and made again, empty:
    the redemptions it held are gone, and any used ticket could be claimed again."""
    tx.execute("INSERT INTO tickets_stream (id, created) VALUES (1, ?) ON CONFLICT (id) DO NOTHING", (created,))
    return str(tx.scalar("SELECT created FROM tickets_stream WHERE id = 1"))


def settle(tx: Tx, ident: Identity, attempt: str, o: Outcome) -> bool:
    """Record an outcome and publish it for audit; False if nothing changed (no new version).
    A settled attempt is never moved back to pending."""
    row = tx.one("SELECT ticket, issuer, at, state, admitted, winner_space, version FROM ticket_attempts"
                 " WHERE attempt = ?", (attempt,))
    assert row is not None
    if o.state == "pending" and row["state"] != "pending":
        return False  # a late "no answer" (a claim still in flight) never undoes an outcome
    if row["version"] and (row["state"], bool(row["admitted"]), row["winner_space"]) == (o.state, o.admitted,
                                                                                          o.winner_space):
        tx.execute("UPDATE ticket_attempts SET why = ? WHERE attempt = ?", (o.why, attempt))
        return False
    version = int(row["version"]) + 1
    tx.execute(
        "UPDATE ticket_attempts SET state = ?, admitted = ?, winner_space = ?, winner_attempt = ?, winner_at = ?,"
        " version = ?, why = ?, settled_at = ? WHERE attempt = ?",
        (o.state, int(o.admitted), o.winner_space, o.winner_attempt,
         o.winner_at.timestamp() if o.winner_at else None, version, o.why,
         None if o.state == "pending" else dt.datetime.now(dt.UTC).timestamp(), attempt))
    body = TicketRedemption(ticket=row["ticket"], issuer=row["issuer"], attempt=attempt,
                            at=dt.datetime.fromtimestamp(row["at"], dt.UTC), state=o.state, admitted=o.admitted,
                            winner_space=o.winner_space, winner_attempt=o.winner_attempt, winner_at=o.winner_at)
    outbox.append(tx, ident, kind=KIND, record_id=attempt, version=version, body=body)
    if o.state == "pending":
        tx.notify(TOPIC)
    return True


def on_audit(tx: Tx, ident: Identity, h: Header, body: Any, box_key: bytes) -> None:
    """Another space's attempt, as it published it (the newest version wins)."""
    assert isinstance(body, TicketRedemption)
    tx.execute(
        "INSERT INTO ticket_audit (author, attempt, ticket, issuer, state, admitted, winner_space, at, version)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (author, attempt) DO UPDATE SET state = excluded.state,"
        " admitted = excluded.admitted, winner_space = excluded.winner_space, version = excluded.version"
        " WHERE excluded.version > ticket_audit.version",
        (h.author, body.attempt, body.ticket, body.issuer, body.state, int(body.admitted), body.winner_space,
         body.at.timestamp(), h.version))


async def policy(store: Store) -> Policy:
    got = await store.scalar("SELECT when_unconfirmed FROM ticket_policy WHERE id = 1")
    return "refuse" if got == "refuse" else DEFAULT_POLICY


def set_policy(tx: Tx, when_unconfirmed: Policy) -> None:
    tx.execute("INSERT INTO ticket_policy (id, when_unconfirmed) VALUES (1, ?)"
               " ON CONFLICT (id) DO UPDATE SET when_unconfirmed = excluded.when_unconfirmed", (when_unconfirmed,))


async def pending(store: Store, *, begun_before: float) -> list[tuple[str, str, bytes, bool, float]]:
    """(attempt, ticket, record, admitted, at) of every attempt left pending, oldest first:
    those the desk recorded as pending, and those begun long ago whose node died mid-claim
    (an attempt the desk is still claiming is the desk's)."""
    rows = await store.all("SELECT attempt, ticket, record, admitted, at FROM ticket_attempts WHERE state = 'pending'"
                           " AND (version > 0 OR at < ?) ORDER BY at", (begun_before,))
    return [(r[0], r[1], bytes(r[2]), bool(r[3]), float(r[4])) for r in rows]


def own_late(tx: Tx, ident: Identity, o: Outcome) -> None:
    """A claim found the ticket held by an attempt of this space that was refused at the desk
    (void, or still pending): its request reached the stream late. Recorded as what it is,
    this space's redemption, though nobody was let in on it."""
    if o.state != "taken" or o.winner_space != ident.space or not o.winner_attempt:
        return
    row = tx.one("SELECT state, at FROM ticket_attempts WHERE attempt = ? AND admitted = 0 AND state IN"
                 " ('void', 'pending')", (o.winner_attempt,))
    if row is not None:
        settle(tx, ident, o.winner_attempt, Outcome(
            "redeemed", False, winner_space=ident.space, winner_attempt=o.winner_attempt, winner_at=o.winner_at,
            why="stored after all, though the holder was refused at the time"))


def _when(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


async def attempts(store: Store, ticket: str | None = None) -> list[dict[str, Any]]:
    """This space's redemption attempts, newest first."""
    where, args = ("WHERE ticket = ?", (ticket,)) if ticket else ("", ())
    rows = await store.all(
        "SELECT attempt, ticket, issuer, at, state, admitted, winner_space, winner_attempt, winner_at, why"
        f" FROM ticket_attempts {where} ORDER BY at DESC, attempt DESC", args)
    return [{"attempt": r["attempt"], "ticket": r["ticket"], "issuer": r["issuer"], "at": _when(r["at"]),
             "state": r["state"], "admitted": bool(r["admitted"]), "redeemed_by": r["winner_space"] or None,
             "redeemed_at": _when(r["winner_at"]), "why": r["why"]} for r in rows]


async def issued(store: Store, me: str, now: dt.datetime) -> list[dict[str, Any]]:
    """Tickets this space issued, newest first, each with what the federation knows of it:
    unused, redeemed (where, when), pending somewhere, or expired."""
    rows = await store.all("SELECT id, text, note, issued_at, expires_at FROM tickets_issued"
                           " ORDER BY issued_at DESC, id DESC")
    audit = await store.all(
        "SELECT ticket, author, state, winner_space, at FROM ticket_audit"
        " UNION ALL SELECT ticket, ?, state, winner_space, at FROM ticket_attempts", (me,))
    by_ticket: dict[str, list[Any]] = {}
    for a in audit:
        by_ticket.setdefault(a["ticket"], []).append(a)
    out = []
    for r in rows:
        seen = by_ticket.get(r["id"], [])
        won = sorted({(a["author"], a["at"]) for a in seen if a["state"] == "redeemed"}, key=lambda w: w[1])
        state = "redeemed" if won else ("pending" if any(a["state"] == "pending" for a in seen) else
                                        "expired" if r["expires_at"] < now.timestamp() else "unused")
        out.append({"id": r["id"], "issuer": me, "note": r["note"], "text": r["text"],
                    "issued_at": _when(r["issued_at"]), "expires_at": _when(r["expires_at"]), "state": state,
                    "redeemed_by": won[0][0] if won else None, "redeemed_at": _when(won[0][1]) if won else None,
                    # two redemptions would mean a loss in JetStream: the audit trail shows it
                    "redeemed_twice": len(won) > 1})
    return out
