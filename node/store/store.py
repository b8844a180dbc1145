"""The node's system of record: one SQLite file (WAL), its migrations and transactions.

SQLite, not the stream, is where a space's data lives (DESIGN §4). One writer connection
serialised by a lock, because aiosqlite runs every call on one thread and two coroutines
interleaving statements on one connection would interleave their transactions; a second
connection serves reads, which WAL lets run beside a write. Own writes commit with
``synchronous=FULL`` so a 2xx survives SIGKILL and power loss.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import aiosqlite

from node.errors import StoreError

__all__ = ["Store", "MIGRATIONS"]

log = logging.getLogger(__name__)

# Numbered migrations: append only, never edit a released one.
MIGRATIONS: Final[Sequence[str]] = (
    # 1: the log of envelopes, chains, outbox, replicated records, pins, positions, quarantine
    """
    CREATE TABLE log (
        author TEXT NOT NULL,
        channel TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        hash BLOB NOT NULL,
        prev BLOB NOT NULL,
        kind TEXT NOT NULL,
        record_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        raw BLOB NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('applied', 'pending', 'rejected')),
        received_at REAL NOT NULL,
        PRIMARY KEY (author, channel, seq)
    ) WITHOUT ROWID;
    CREATE INDEX log_pending ON log (state) WHERE state = 'pending';
    CREATE TABLE chains (
        author TEXT NOT NULL,
        channel TEXT NOT NULL,
        seq INTEGER NOT NULL,
        head BLOB NOT NULL,
        PRIMARY KEY (author, channel)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        seq INTEGER NOT NULL,
        subject TEXT NOT NULL,
        enqueued_at REAL NOT NULL
    );
    CREATE TABLE records (
        author TEXT NOT NULL,
        kind TEXT NOT NULL,
        record_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        version INTEGER NOT NULL,
        body BLOB NOT NULL,
        hash BLOB NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (author, kind, record_id)
    ) WITHOUT ROWID;
    CREATE TABLE pins (
        space TEXT PRIMARY KEY,
        sign_key BLOB NOT NULL,
        source TEXT NOT NULL,
        pinned_at REAL NOT NULL
    );
    CREATE TABLE positions (
        consumer TEXT PRIMARY KEY,
        stream_seq INTEGER NOT NULL
    );
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        source TEXT NOT NULL,
        subject TEXT NOT NULL,
        author TEXT NOT NULL,
        reason TEXT NOT NULL,
        raw BLOB NOT NULL
    );
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        space TEXT NOT NULL,
        message TEXT NOT NULL
    );
    """,
    # 2: local members, the host's attendee lists, imported calendar feeds
    """
    CREATE TABLE members (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        share_name INTEGER NOT NULL,
        skills TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE attendees (
        event_id TEXT NOT NULL,
        space TEXT NOT NULL,
        rsvp_id TEXT NOT NULL,
        member TEXT NOT NULL,
        display_name TEXT NOT NULL,
        box_key BLOB NOT NULL,
        status TEXT NOT NULL,
        position INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (event_id, space, rsvp_id)
    ) WITHOUT ROWID;
    CREATE INDEX attendees_queue ON attendees (event_id, status, position);
    CREATE TABLE feeds (
        url TEXT PRIMARY KEY,
        etag TEXT NOT NULL DEFAULT '',
        last_modified TEXT NOT NULL DEFAULT '',
        polled_at REAL,
        imported INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        added_at REAL NOT NULL
    );
    """,
    # 3: quarantine and alerts count repeats instead of growing
    """
    ALTER TABLE quarantine ADD COLUMN digest BLOB NOT NULL DEFAULT x'';
    ALTER TABLE quarantine ADD COLUMN seen INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX quarantine_digest ON quarantine (digest);
    ALTER TABLE alerts ADD COLUMN seen INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE positions ADD COLUMN stream_created TEXT NOT NULL DEFAULT '';
    """,
    # 4: the outbox numbers its rows for good (AUTOINCREMENT), so the relay can read on
    #    from where it was without a reused rowid hiding a new row
    """
    CREATE TABLE outbox_new (
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        channel TEXT NOT NULL,
        seq INTEGER NOT NULL,
        subject TEXT NOT NULL,
        enqueued_at REAL NOT NULL
    );
    INSERT INTO outbox_new (id, channel, seq, subject, enqueued_at)
        SELECT id, channel, seq, subject, enqueued_at FROM outbox ORDER BY rowid;
    DROP TABLE outbox;
    ALTER TABLE outbox_new RENAME TO outbox;
    """,
    # 5: listings by kind (events, notes) without scanning every record
    """
    CREATE INDEX records_kind ON records (kind, channel);
    """,
    # 6: the host keeps which version of each RSVP it answered; the importer keeps which
    #    events it called off itself (only those come back when the feed lists them again)
    """
    ALTER TABLE attendees ADD COLUMN rsvp_version INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE feed_removed (record_id TEXT PRIMARY KEY);
    """,
)


class Store:
    """Owns the two connections; use ``async with Store(path) as store``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoints: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._commits = 0

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        try:
            self._writer = await aiosqlite.connect(self.path, isolation_level=None)
            await self._writer.execute("PRAGMA journal_mode=WAL")
            await self._writer.execute("PRAGMA synchronous=FULL")
            await self._writer.execute("PRAGMA busy_timeout=10000")
            await self._writer.execute("PRAGMA foreign_keys=ON")
            # A small node on a small server: 1 MiB of page cache per connection is plenty
            # for the working set (chain heads, recent log pages) and keeps RSS low.
            await self._writer.execute("PRAGMA cache_size=-1024")
            # Checkpoints run in the background (below), not inside a commit: a commit that
            # happens to checkpoint a large WAL would stall every writer for seconds.
            await self._writer.execute("PRAGMA wal_autocheckpoint=0")
            await self._writer.execute("PRAGMA journal_size_limit=67108864")
            await self._migrate(self._writer)
            self._checkpointer = await aiosqlite.connect(self.path, isolation_level=None)
            await self._checkpointer.execute("PRAGMA busy_timeout=10000")
            self._checkpoints = asyncio.create_task(self._checkpoint_loop(), name="sqlite-checkpoint")
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            self._reader.row_factory = sqlite3.Row
            await self._reader.execute("PRAGMA busy_timeout=10000")
            await self._reader.execute("PRAGMA query_only=ON")
            await self._reader.execute("PRAGMA cache_size=-1024")
        except sqlite3.Error as e:
            await self.close()
            raise StoreError(f"cannot open the database {self.path}: {e}") from e

    async def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            await asyncio.gather(self._checkpoints, return_exceptions=True)
            self._checkpoints = None
        for conn in (self._reader, self._checkpointer, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = self._checkpointer = None

    async def _checkpoint_loop(self) -> None:
        """Copy the WAL into the database now and then, beside the writer: a PASSIVE
        checkpoint never blocks it. The writer reuses the WAL from its start once it is
        all copied, and `journal_size_limit` trims the file then."""
        assert self._checkpointer is not None
        copied = -1  # commits known to be in the database file
        while True:
            await asyncio.sleep(1.0)
            if self._commits == copied:
                continue  # nothing new in the WAL: an idle node stays asleep
            upto = self._commits
            try:
                rows = await self._checkpointer.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as e:
                log.debug("store: checkpoint skipped (%s)", e)
                continue
            busy, in_wal, done = next(iter(rows), (1, 0, -1))
            if not busy and in_wal == done:
                copied = upto  # all of it; until the next commit there is nothing to do

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} was written by a newer hitode (schema {current}, "
                f"this one knows {len(MIGRATIONS)})"
            )
        if current < len(MIGRATIONS):
            log.info("store: %s %s schema %d", self.path.name,
                     "created at" if current == 0 else f"migrating from schema {current} to", len(MIGRATIONS))
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={number};\nCOMMIT;"
            )

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: committed on exit, rolled back on any exception.

        Safe against cancellation at any await: whatever happens, the connection leaves
        here outside a transaction (shielded COMMIT/ROLLBACK), or every later write on
        this shared connection would fail with "cannot start a transaction within a
        transaction".
        """
        conn = self._writer
        if conn is None:
            raise StoreError("the store is closed")
        async with self._lock:
            try:
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
                await asyncio.shield(conn.execute("COMMIT"))
                self._commits += 1
            except BaseException as e:
                if conn.in_transaction:
                    try:
                        await asyncio.shield(conn.execute("ROLLBACK"))
                    except sqlite3.Error:
                        pass  # SQLite may have rolled back by itself; keep the first error
                if isinstance(e, sqlite3.Error):
                    raise StoreError(f"database: {e}") from e
                raise

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        conn = self._reader
        if conn is None:
            raise StoreError("the store is closed")
        # One hop to the database thread per query (execute + fetch + close would be three).
        return list(await conn.execute_fetchall(sql, tuple(params)))

    async def one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.one(sql, params)
        return None if row is None else row[0]
