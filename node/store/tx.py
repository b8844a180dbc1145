"""A write transaction as the code inside it sees it: statements, reads, and notices.

A `Tx` lives only inside one unit that `Store.transact` runs in the writer's thread, so
everything here is synchronous and nothing here can be split by a cancellation. Writers
that leave work for someone else after the commit (the outbox rows the relay sends, a
record a page is waiting for) say so with `notify(topic)`; the store tells the topic's
listeners once the transaction has committed, and never if it rolled back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from node.errors import StoreError

__all__ = ["Tx", "NotDurable"]


class NotDurable(StoreError):
    """Raised inside a non-durable unit that turned out to need a durable commit."""


class Tx:
    __slots__ = ("conn", "topics", "durable")

    def __init__(self, conn: sqlite3.Connection, *, durable: bool = True) -> None:
        self.conn = conn
        self.topics: set[str] = set()
        self.durable = durable

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> sqlite3.Cursor:
        return self.conn.executemany(sql, (tuple(r) for r in rows))

    def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, tuple(params)).fetchone()
        return row

    def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    def require_durable(self) -> None:
        """This transaction holds something that exists nowhere else (a record of this node
        being sent): its commit must wait for the disk. In a unit run without, this stops
        it, and the store runs the unit again, durably (SQLite sets that before BEGIN)."""
        if not self.durable:
            raise NotDurable("this unit must commit durably")

    def notify(self, topic: str) -> None:
        """After the commit, wake whoever listens on `topic` (Store.on_commit)."""
        self.topics.add(topic)
