"""The records table: the newest version of every record this node holds, own or replica.

Single writer per record (DESIGN §3): a version replaces the stored one only if it is
higher, so applying twice, or an older version after a newer one, changes nothing. The
federation digest is computed over the public part of this table.
"""

from __future__ import annotations

import hashlib
import time
from typing import TypeVar

import msgspec

from node.store import Store, Tx
from schemas.envelope import PUB

__all__ = ["put", "get", "get_in", "of_kind", "digest", "version_of"]

T = TypeVar("T", bound=msgspec.Struct)


def put(
    tx: Tx,
    *,
    author: str,
    kind: str,
    record_id: str,
    channel: str,
    version: int,
    body: bytes,
    hash: bytes,
) -> bool:
    """Store a version if it is newer than what is held; True if it was."""
    cur = tx.execute(
        """
        INSERT INTO records (author, kind, record_id, channel, version, body, hash, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (author, kind, record_id) DO UPDATE SET
            channel = excluded.channel, version = excluded.version, body = excluded.body,
            hash = excluded.hash, updated_at = excluded.updated_at
        WHERE excluded.version > records.version
        """,
        (author, kind, record_id, channel, version, body, hash, time.time()),
    )
    return cur.rowcount > 0


def version_of(tx: Tx, author: str, kind: str, record_id: str) -> int:
    v = tx.scalar(
        "SELECT version FROM records WHERE author = ? AND kind = ? AND record_id = ?",
        (author, kind, record_id),
    )
    return int(v or 0)


def get_in(tx: Tx, author: str, kind: str, record_id: str, type_: type[T]) -> tuple[T, int] | None:
    """Like `get`, inside a write transaction (sees its own uncommitted writes)."""
    row = tx.one(
        "SELECT body, version FROM records WHERE author = ? AND kind = ? AND record_id = ?",
        (author, kind, record_id),
    )
    if row is None:
        return None
    return msgspec.msgpack.decode(row[0], type=type_), int(row[1])


async def get(
    store: Store, author: str, kind: str, record_id: str, type_: type[T]
) -> tuple[T, int] | None:
    row = await store.one(
        "SELECT body, version FROM records WHERE author = ? AND kind = ? AND record_id = ?",
        (author, kind, record_id),
    )
    if row is None:
        return None
    return msgspec.msgpack.decode(row["body"], type=type_), int(row["version"])


async def of_kind(
    store: Store, kind: str, type_: type[T], *, author: str | None = None
) -> list[tuple[str, T, int]]:
    """(author, body, version) of every record of a kind, oldest author first."""
    sql = "SELECT author, body, version FROM records WHERE kind = ?"
    params: list[object] = [kind]
    if author is not None:
        sql += " AND author = ?"
        params.append(author)
    sql += " ORDER BY author, record_id"
    dec = msgspec.msgpack.Decoder(type_)
    return [(r["author"], dec.decode(r["body"]), int(r["version"])) for r in await store.all(sql, params)]


async def digest(store: Store) -> tuple[str, int]:
    """A hash of the replicated public state; equal digests mean converged nodes."""
    h = hashlib.sha256()
    rows = await store.all(
        "SELECT author, kind, record_id, version, hash FROM records WHERE channel = ? "
        "ORDER BY author, kind, record_id",
        (PUB,),
    )
    for r in rows:
        h.update(f"{r['author']}\x00{r['kind']}\x00{r['record_id']}\x00{r['version']}\x00".encode())
        h.update(r["hash"])
    return h.hexdigest(), len(rows)
