"""Reading the LAB as this node shows it: the themes, a theme's discussion and reports, and
the recent activity, each through this node's view (labels.py).

Everything comes from the records table (own records and replicas alike), so a node with
its bus down still shows the whole discussion it holds. Posts are in the order they were
written (their creation time, then their id, which is sortable by time too); a reply
is shown under the post it answers, and a reply whose parent has not arrived yet waits
at the top level rather than being lost. Hidden records are left out unless asked for,
and then flagged; pinned ones come first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from node.lab.labels import View
from node.lab.rules import POST, REPORT, THEME, Item
from node.store import Store
from schemas.lab import Post, Report, Theme

__all__ = ["item_view", "themes", "theme", "activity", "load"]

_decoders: Final[dict[str, msgspec.msgpack.Decoder[Any]]] = {THEME: msgspec.msgpack.Decoder(Theme), POST: msgspec.msgpack.Decoder(Post),
                    REPORT: msgspec.msgpack.Decoder(Report)}


async def load(store: Store, kind: str) -> list[tuple[Any, int]]:
    """Every record of a LAB kind this node holds, with its version."""
    rows = await store.all("SELECT body, version FROM records WHERE kind = ?", (kind,))
    dec = _decoders[kind]
    return [(dec.decode(r["body"]), int(r["version"])) for r in rows]


def item_view(item: Item, version: int, names: Mapping[str, str], view: View) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(item)
    out.pop("type", None)
    out["version"] = version
    out["space_name"] = names.get(item.space, item.space)
    out["labels"] = view.labels_of(item.id)
    out["hidden"] = view.hidden(item.id)
    out["pinned"] = view.pinned(item.id)
    return out


def _order(item: Post | Report) -> tuple[dt.datetime, str]:
    """The order written: the author's clock, then the id (UUIDv7, sortable by time too)."""
    return (item.created_at, item.id)


def _utc(when: dt.datetime) -> str:
    """An instant as text that sorts as time does, whatever offset its author wrote."""
    return when.astimezone(dt.UTC).isoformat()


async def themes(store: Store, names: Mapping[str, str], view: View, *, status: str | None = None,
                 tag: str | None = None, hidden: bool = False) -> list[dict[str, Any]]:
    """Themes with their number of posts and reports, pinned first, then the latest active."""
    posts, reports = await load(store, POST), await load(store, REPORT)
    counts: dict[str, dict[str, Any]] = {}
    for kind, items in (("posts", posts), ("reports", reports)):
        for item, _ in items:
            if item.status == "retracted" or view.hidden(item.id):
                continue
            c = counts.setdefault(item.theme, {"posts": 0, "reports": 0, "last": ""})
            c[kind] += 1
            c["last"] = max(c["last"], _utc(item.updated_at))
    out = []
    for t, version in await load(store, THEME):
        if (status is not None and t.status != status) or (tag is not None and tag not in t.tags):
            continue
        if t.status == "retracted" and status is None:
            continue
        entry = item_view(t, version, names, view)
        if entry["hidden"] and not hidden:
            continue
        c = counts.get(t.id, {"posts": 0, "reports": 0, "last": ""})
        entry |= {"posts": c["posts"], "reports": c["reports"],
                  "last_activity": max(c["last"], _utc(t.updated_at))}
        out.append(entry)
    out.sort(key=lambda e: e["last_activity"], reverse=True)
    out.sort(key=lambda e: not e["pinned"])
    return out


async def theme(store: Store, found: tuple[Theme, int], names: Mapping[str, str], view: View, *,
                hidden: bool = False) -> dict[str, Any]:
    """A theme with its discussion (posts, each with its replies) and its reports, in order."""
    t, version = found
    out = item_view(t, version, names, view)
    posts = sorted((p for p in await load(store, POST) if p[0].theme == t.id), key=lambda p: _order(p[0]))
    shown = {p.id: item_view(p, v, names, view) for p, v in posts if hidden or not view.hidden(p.id)}
    by_id = {p.id: p for p, _ in posts}
    for entry in shown.values():
        entry["replies"] = []
    threads: list[dict[str, Any]] = []
    for p, _ in posts:
        if p.id not in shown:
            continue
        entry = shown[p.id]
        root = by_id.get(p.reply_to) if p.reply_to else None
        if root is not None and root.reply_to:  # a peer's reply to a reply: shown under the thread's root
            root = by_id.get(root.reply_to)
        if root is None:
            threads.append(entry)  # a post, or a reply whose parent has not arrived yet
        elif root.id in shown:
            shown[root.id]["replies"].append(entry)
        # else: the post it answers is hidden in this view, and its replies with it
    threads.sort(key=lambda e: not e["pinned"])
    reports = sorted((r for r in await load(store, REPORT) if r[0].theme == t.id), key=lambda r: _order(r[0]))
    out["posts"] = threads
    out["reports"] = [item_view(r, v, names, view) for r, v in reports if hidden or not view.hidden(r.id)]
    out["reports"].sort(key=lambda e: not e["pinned"])
    return out


async def activity(store: Store, names: Mapping[str, str], view: View, *, limit: int = 10) -> list[dict[str, Any]]:
    """The latest posts and reports across the themes this view shows, newest first."""
    titles = {t.id: t.title for t, _ in await load(store, THEME)
              if t.status != "retracted" and not view.hidden(t.id)}
    items: list[tuple[str, dict[str, Any]]] = []
    for kind in (POST, REPORT):
        for item, version in await load(store, kind):
            if item.theme not in titles or item.status == "retracted" or view.hidden(item.id):
                continue
            entry = item_view(item, version, names, view) | {"kind": kind.removeprefix("lab_"),
                                                           "theme_title": titles[item.theme]}
            items.append((_utc(item.updated_at), entry))
    items.sort(key=lambda p: p[0], reverse=True)
    return [e for _, e in items[:limit]]
