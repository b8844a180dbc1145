"""Searching the LAB: themes, posts and reports in one Japanese full-text index (DESIGN §13).

The index is the store's (node/store/search.py: CJK bigrams in FTS5, bm25); this module
says what of each record is searched (a title, and the rest of its text) and keeps the
index in step: in the transaction that writes this space's own record, and in the apply
transaction of a peer's (the kinds' `on_apply`), and, for what neither covers (a restored
node's own records taken back from its peers), by catching up when they are applied.
A retracted record's words leave the index, so they find nothing anywhere. Results go
through this node's view like every listing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec

from node.federation.identity import Identity
from node.federation.replica import TAKEN_BACK
from node.lab.discussion import item_view
from node.lab.labels import View
from node.lab.rules import POST, REPORT, THEME, TYPE_OF, Item
from node.store import Store, Tx
from node.store.search import Index
from schemas.envelope import Header
from schemas.lab import Post, Report, Theme

__all__ = ["INDEX", "put", "on_apply", "search", "catch_up", "CatchUp"]

log = logging.getLogger(__name__)
INDEX: Final = Index("lab_search", columns=("title", "body"), weights=(4.0, 1.0))


def _texts(item: Item) -> tuple[str, str]:
    if isinstance(item, Theme):
        return item.title, "\n".join([item.question, *item.tags])
    if isinstance(item, Post):
        return "", "\n".join([item.body, item.author_name])
    numbers = [f"{n.name} {n.unit}" for n in item.numbers]
    return item.title, "\n".join([item.tried, item.where, item.when, item.cost, item.happened, item.again, *numbers])


def put(tx: Tx, item: Item) -> None:
    """The record's current text in the index; a retracted record's words out of it (kept
    as an empty entry, so that `catch_up` knows it is done)."""
    INDEX.put(tx, item.id, *(("", "") if item.status == "retracted" else _texts(item)))


def on_apply(tx: Tx, ident: Identity, h: Header, body: msgspec.Struct, box_key: bytes) -> None:
    """A peer's theme, post or report arrived: index what it says now."""
    assert isinstance(body, (Theme, Post, Report))
    put(tx, body)


_LACKING: Final = (f"FROM records r LEFT JOIN {INDEX.table}_keys k ON k.key = r.record_id"
                   " WHERE r.kind IN (?, ?, ?) AND k.key IS NULL")


def catch_up(tx: Tx) -> int:
    """Index what the index lacks: this space's own records taken back from peers after a
    restore (the kernel runs no reaction for a node's own records) and anything held from
    before the index existed. Returns how many records it indexed."""
    rows = tx.all(f"SELECT r.kind, r.body {_LACKING}", (THEME, POST, REPORT))
    for kind, body in rows:
        put(tx, msgspec.msgpack.decode(body, type=TYPE_OF[kind]))
    return len(rows)


class CatchUp:
    """A running part of the LAB: the search index catches up when the node starts and
    whenever this node's own records come back from its peers (a restore). Not after every
    batch: a read per lone record from a peer was a tenth of a receiver's CPU."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._due = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stop_listening: Callable[[], None] | None = None

    async def __aenter__(self) -> CatchUp:
        # Listening first: records taken back while the first catching up runs wake it again.
        self._stop_listening = self._store.on_commit(TAKEN_BACK, self._due.set)
        await self._store.transact(catch_up)
        self._task = asyncio.create_task(self._loop(), name="lab-index-catch-up")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                # A read first: most records taken back are not the LAB's, and then the
                # writer (and the inline path of lone records) is left alone.
                if not await self._store.scalar(f"SELECT 1 {_LACKING} LIMIT 1", (THEME, POST, REPORT)):
                    continue
                if (n := await self._store.transact(catch_up)):
                    log.info("lab: indexed %d records the search index lacked", n)
            except Exception:  # noqa: BLE001 - one unreadable record must not end the catching up
                log.exception("lab: the search index could not catch up; it tries again when more of our records come back")


async def search(store: Store, query: str, names: Mapping[str, str], view: View, *,
                 limit: int = 50) -> list[dict[str, Any]]:
    """Themes, posts and reports matching `query`, best first, as this node's view shows them."""
    keys = await INDEX.search(store, query, limit=limit * 2)
    if not keys:
        return []
    marks = ",".join("?" * len(keys))
    rows = await store.all(f"SELECT kind, record_id, body, version FROM records WHERE kind IN (?, ?, ?)"
                           f" AND record_id IN ({marks})", (THEME, POST, REPORT, *keys))
    found = {r["record_id"]: (r["kind"], msgspec.msgpack.decode(r["body"], type=TYPE_OF[r["kind"]]), int(r["version"]))
             for r in rows}
    titles = {str(r["record_id"]): msgspec.msgpack.decode(r["body"], type=Theme).title for r in await store.all(
        "SELECT record_id, body FROM records WHERE kind = ?", (THEME,))}
    out = []
    for key in keys:
        if key not in found:
            continue
        kind, item, version = found[key]
        if item.status == "retracted" or view.hidden(item.id):
            continue
        theme_id = item.id if isinstance(item, Theme) else item.theme
        out.append(item_view(item, version, names, view) | {"kind": kind.removeprefix("lab_"), "theme_id": theme_id,
                                                           "theme_title": titles.get(theme_id, "")})
    return out[:limit]
