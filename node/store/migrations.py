"""Schema migrations: the kernel's own, and each feature's, numbered per owner.

Each owner (the kernel, or a feature by its name) has an append-only list of scripts;
`schema_versions` keeps how far each owner's list has run in this database, so a feature
added to a node later creates its tables at the next start, and no feature's numbering
depends on another's. A released script is never edited.

A database from the development series before per-owner versions (`PRAGMA user_version`
6) already has every table of that time; it is adopted: the kernel is marked at 1 and the
features' first scripts, written with IF NOT EXISTS, find their tables there.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from node.errors import StoreError

__all__ = ["KERNEL", "Migrations", "migrate"]

log = logging.getLogger(__name__)

Migrations = tuple[str, Sequence[str]]  # (owner, scripts)

LEGACY_USER_VERSION: Final = 6
SCHEMA_MARK: Final = 100  # user_version from here on: per-owner versions are in use

# The kernel's tables: the log of envelopes and chains, the outbox, replicated records,
# pins, consumer positions, quarantine and alerts.
KERNEL: Final[Sequence[str]] = (
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
    -- numbered for good (AUTOINCREMENT): the relay reads on from where it was
    CREATE TABLE outbox (
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
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
    CREATE INDEX records_kind ON records (kind, channel);
    CREATE TABLE pins (
        space TEXT PRIMARY KEY,
        sign_key BLOB NOT NULL,
        source TEXT NOT NULL,
        pinned_at REAL NOT NULL
    );
    CREATE TABLE positions (
        consumer TEXT PRIMARY KEY,
        stream_seq INTEGER NOT NULL,
        stream_created TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        source TEXT NOT NULL,
        subject TEXT NOT NULL,
        author TEXT NOT NULL,
        reason TEXT NOT NULL,
        raw BLOB NOT NULL,
        digest BLOB NOT NULL DEFAULT x'',
        seen INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX quarantine_digest ON quarantine (digest);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        space TEXT NOT NULL,
        message TEXT NOT NULL,
        seen INTEGER NOT NULL DEFAULT 1
    );
    """,
    # 2: the box key a space's newest applied profile or rotation names, for sealing to it
    """
    ALTER TABLE pins ADD COLUMN box_key BLOB;
    """,
    # 3: keys a space rotated away from, valid for what they signed before (per channel);
    #    the first author of each record id (ids addressed alone belong to it for good)
    """
    CREATE TABLE earlier_keys (
        space TEXT NOT NULL,
        sign_key BLOB NOT NULL,
        box_key BLOB,
        heads BLOB NOT NULL,
        retired_at REAL NOT NULL,
        PRIMARY KEY (space, sign_key)
    ) WITHOUT ROWID;
    CREATE TABLE owners (
        kind TEXT NOT NULL,
        record_id TEXT NOT NULL,
        author TEXT NOT NULL,
        PRIMARY KEY (kind, record_id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO owners (kind, record_id, author)
        SELECT kind, record_id, author FROM log WHERE version = 1 AND state = 'applied' ORDER BY received_at;
    """,
)


def _check_owners(owners: Sequence[Migrations]) -> None:
    """Refuse a list of owners whose versions could not be kept apart in `schema_versions`.

    The row is keyed by the owner's name alone: two features of one name, or a feature
    named like the kernel, would share one number, so one would skip the other's scripts
    or run its own on top of tables it never made. The kernel's entry is the first.
    """
    seen: set[str] = set()
    for i, (owner, _) in enumerate(owners):
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", owner):
            raise StoreError(f"{owner!r} cannot own migrations (a-z, 0-9, _)")
        if owner == "kernel" and i > 0:
            raise StoreError("a feature cannot own migrations as 'kernel': the kernel's tables are numbered under it")
        if owner in seen:
            raise StoreError(f"two features own migrations as {owner!r}; an owner's name must be unique")
        seen.add(owner)


def migrate(conn: sqlite3.Connection, path: Path, owners: Sequence[Migrations]) -> None:
    """Run what each owner has not run yet, each script in its own transaction.

    Every check comes before the first script, so a refused start runs none of them
    rather than leaving some owners migrated.
    """
    _check_owners(owners)
    user_version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (owner TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    if user_version not in (0, SCHEMA_MARK):
        if user_version != LEGACY_USER_VERSION:
            raise StoreError(
                f"{path} has schema {user_version}, from a development build this one cannot "
                "upgrade; move it aside and let the node catch up from its peers"
            )
        conn.execute("INSERT OR IGNORE INTO schema_versions (owner, version) VALUES ('kernel', 1)")
        log.info("store: %s adopted from the development schema %d", path.name, user_version)
    conn.execute(f"PRAGMA user_version={SCHEMA_MARK}")
    held = {str(r[0]): int(r[1]) for r in conn.execute("SELECT owner, version FROM schema_versions")}
    for owner, scripts in owners:
        if held.get(owner, 0) > len(scripts):
            raise StoreError(
                f"{path} was written by a newer hitode ({owner} schema {held[owner]}, this one knows {len(scripts)})"
            )
    ran = []
    for owner, scripts in owners:
        done = held.get(owner, 0)
        for number, script in enumerate(scripts[done:], start=done + 1):
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\n"
                f"INSERT INTO schema_versions (owner, version) VALUES ('{owner}', {number})"
                " ON CONFLICT (owner) DO UPDATE SET version = excluded.version;\nCOMMIT;"
            )
            ran.append(f"{owner} {number}")
    if ran:
        log.info("store: %s migrated (%s)", path.name, ", ".join(ran))
