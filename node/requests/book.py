"""The requests this node holds (own and replicated), indexed to be found and matched.

Every request record, as it is written here or applied from a peer, is put in the
`request_rows` table (status, kind, space, region, deadline), `request_skills` (its
canonical skills, so a member finds the open requests that want them by index) and the
full-text index, all in the unit that writes the record. Listing and search read these.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import msgspec

from node.errors import NotFound
from node.federation import outbox, records
from node.federation.identity import Identity
from node.members import skills
from node.requests.rules import KIND
from node.store import Store, Tx
from node.store.search import Index, match_expression
from schemas.envelope import Header
from schemas.request import HelpRequest, RequestFilters

__all__ = ["TEXT", "MIGRATIONS", "save", "on_request", "index", "reindex_skills", "find", "find_in", "view", "listing",
           "CHANGED"]

CHANGED: Final = "requests"  # commit topic: a request, offer or referral changed here
TEXT: Final = Index("request_text", columns=("title", "body", "skills"), weights=(4.0, 1.0, 2.0))
_dec: Final = msgspec.msgpack.Decoder(HelpRequest)

MIGRATIONS: Final = (
    """
    CREATE TABLE request_rows (
        id TEXT PRIMARY KEY,
        space TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        region TEXT NOT NULL,
        online_ok INTEGER NOT NULL,
        deadline REAL NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX request_rows_open ON request_rows (status, deadline);
    CREATE TABLE request_skills (skill TEXT NOT NULL, request_id TEXT NOT NULL, PRIMARY KEY (skill, request_id)) WITHOUT ROWID;
    CREATE INDEX request_skills_request ON request_skills (request_id);
    CREATE TABLE request_offers (
        offer_id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL,
        space TEXT NOT NULL,
        kind TEXT NOT NULL,
        member TEXT NOT NULL,
        display_name TEXT NOT NULL,
        skills TEXT NOT NULL,
        message TEXT NOT NULL,
        referred TEXT,
        received_at REAL NOT NULL
    );
    CREATE INDEX request_offers_request ON request_offers (request_id, received_at);
    CREATE TABLE request_referrals (
        request_id TEXT NOT NULL,
        space TEXT NOT NULL,
        message TEXT NOT NULL,
        received_at REAL NOT NULL,
        PRIMARY KEY (request_id, space)
    ) WITHOUT ROWID;
    """ + TEXT.migration(),
)


def index(tx: Tx, req: HelpRequest, synonyms: skills.Synonyms | None = None) -> None:
    """Put one request (a new version of it) in the listing, skill and text indexes."""
    tx.execute(
        "INSERT INTO request_rows (id, space, kind, status, region, online_ok, deadline, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind,"
        " status = excluded.status, region = excluded.region, online_ok = excluded.online_ok,"
        " deadline = excluded.deadline",
        (req.id, req.space, req.kind, req.status, skills.key(req.region), int(req.online_ok),
         req.deadline.timestamp(), req.created_at.timestamp()),
    )
    folded = (synonyms or skills.load_in(tx)).fold_all(req.skills)
    tx.execute("DELETE FROM request_skills WHERE request_id = ?", (req.id,))
    tx.executemany("INSERT INTO request_skills (skill, request_id) VALUES (?, ?)", ((s, req.id) for s in folded))
    TEXT.put(tx, req.id, req.title, req.body, " ".join(req.skills))
    tx.notify(CHANGED)


def reindex_skills(tx: Tx, synonyms: skills.Synonyms) -> None:
    """After the synonym list changed: every request's skills folded again."""
    for row in tx.all("SELECT body FROM records WHERE kind = ?", (KIND,)):
        req = _dec.decode(row[0])
        tx.execute("DELETE FROM request_skills WHERE request_id = ?", (req.id,))
        tx.executemany("INSERT INTO request_skills (skill, request_id) VALUES (?, ?)",
                       ((s, req.id) for s in synonyms.fold_all(req.skills)))


def save(tx: Tx, ident: Identity, req: HelpRequest, version: int) -> None:
    """A request of this space: signed into the outbox and indexed, in the caller's unit."""
    outbox.append(tx, ident, kind=KIND, record_id=req.id, version=version, body=req)
    index(tx, req)


def on_request(tx: Tx, ident: Identity, header: Header, body: msgspec.Struct, box_key: bytes) -> None:
    """Reactor: a peer's request (a newer version of it) was applied; index it with it."""
    assert isinstance(body, HelpRequest)
    index(tx, body)


def find_in(tx: Tx, request_id: str) -> tuple[HelpRequest, int] | None:
    row = tx.one("SELECT body, version FROM records WHERE kind = ? AND record_id = ?"
                 " AND author = (SELECT space FROM request_rows WHERE id = ?)", (KIND, request_id, request_id))
    return None if row is None else (_dec.decode(row[0]), int(row[1]))


async def find(store: Store, request_id: str, *, field: str = "id") -> tuple[HelpRequest, int]:
    row = await store.one("SELECT r.body, r.version FROM request_rows q JOIN records r ON r.kind = ?"
                          " AND r.author = q.space AND r.record_id = q.id WHERE q.id = ?", (KIND, request_id))
    if row is None:
        raise NotFound(f"no request {request_id!r}", field=field)
    return _dec.decode(row["body"]), int(row["version"])


def view(req: HelpRequest, version: int, now: dt.datetime) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(req)
    out.pop("type", None)
    out["version"] = version
    if req.status in ("open", "matched") and req.deadline <= now:
        out["status"] = "expired"  # its author's node says so too, when it next runs
    return out


async def listing(store: Store, f: RequestFilters, now: dt.datetime, synonyms: skills.Synonyms) -> list[dict[str, Any]]:
    """Requests by the filters; with text, best match first (bm25), else newest first."""
    where: list[str] = []
    params: list[Any] = []
    joins, order = "", "q.created DESC"
    expression = match_expression(f.text) if f.text else None
    if f.text and expression is None:
        return []
    if expression is not None:
        joins += f" JOIN ({TEXT.ranked()}) AS hit ON hit.key = q.id"
        params.append(expression)
        order = "hit.rank"
    if f.skill:
        joins += " JOIN request_skills s ON s.request_id = q.id AND s.skill = ?"
        params.append(synonyms.fold(f.skill))
    if f.status in ("open", "matched"):
        where.append("q.status = ? AND q.deadline > ?")
        params += [f.status, now.timestamp()]
    elif f.status == "expired":
        where.append("(q.status = 'expired' OR (q.status IN ('open', 'matched') AND q.deadline <= ?))")
        params.append(now.timestamp())
    elif f.status is not None:
        where.append("q.status = ?")
        params.append(f.status)
    for column, value in (("kind", f.kind), ("space", f.space)):
        if value is not None:
            where.append(f"q.{column} = ?")
            params.append(value)
    if f.region:
        where.append("q.region = ?")
        params.append(skills.key(f.region))
    sql = (f"SELECT r.body, r.version FROM request_rows q{joins} JOIN records r ON r.kind = '{KIND}'"
           f" AND r.author = q.space AND r.record_id = q.id"
           f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {order} LIMIT ?")
    rows = await store.all(sql, [*params, f.limit])
    return [view(_dec.decode(r["body"]), int(r["version"]), now) for r in rows]


async def referred(store: Store, request_id: str) -> list[dict[str, Any]]:
    """The spaces that referred a request to this one (it is addressed to us)."""
    rows = await store.all("SELECT space, message FROM request_referrals WHERE request_id = ? ORDER BY received_at",
                           (request_id,))
    return [{"space": r["space"], "message": r["message"]} for r in rows]


def version_of(tx: Tx, ident: Identity, request_id: str) -> int:
    return records.version_of(tx, ident.space, KIND, request_id)
