"""Searching the LAB: themes, posts and reports in one Japanese full-text index (DESIGN §13).

The index is the store's (node/store/search.py: CJK bigrams in FTS5, bm25); this module
says what of each record is searched (a title, and the rest of its text) and keeps the
index in step: in the transaction that writes this space's own record, and in the apply
transaction of a peer's (the kinds' `on_apply`). A retracted record leaves the index, so
its words find nothing anywhere. Results go through this node's view like every listing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from node.federation.identity import Identity
from node.lab.discussion import item_view
from node.lab.labels import View
from node.lab.rules import POST, REPORT, THEME, TYPE_OF, Item
from node.store import Store, Tx
from node.store.search import Index
from schemas.envelope import Header
from schemas.lab import Post, Report, Theme

__all__ = ["INDEX", "put", "on_apply", "search"]

INDEX: Final = Index("lab_search", columns=("title", "body"), weights=(4.0, 1.0))


def _texts(item: Item) -> tuple[str, str]:
    if isinstance(item, Theme):
        return item.title, "\n".join([item.question, *item.tags])
    if isinstance(item, Post):
        return "", "\n".join([item.body, item.author_name])
    numbers = [f"{n.name} {n.unit}" for n in item.numbers]
    return item.title, "\n".join([item.tried, item.where, item.when, item.cost, item.happened, item.again, *numbers])


def put(tx: Tx, item: Item) -> None:
    """The record's current text in the index; a retracted record out of it."""
    if item.status == "retracted":
        INDEX.delete(tx, item.id)
    else:
        INDEX.put(tx, item.id, *_texts(item))


def on_apply(tx: Tx, ident: Identity, h: Header, body: msgspec.Struct, box_key: bytes) -> None:
    """A peer's theme, post or report arrived: index what it says now."""
    assert isinstance(body, (Theme, Post, Report))
    put(tx, body)


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
