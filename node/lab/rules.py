"""The LAB's rules for themes, posts and experiment reports: open, write, edit, retract.

Plain functions over the records of schemas/lab.py (testable without a bus). Only the
author space changes a record; an edit or a retraction is a new version, and a retraction
empties the record's text so that what was said is gone at every node, not just hidden.
Replies go one level deep. The same rules, as `check_*`, judge records from peers: a bad
one is refused by every node and kept in quarantine with the reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final, TypeVar

import msgspec

from node.errors import Conflict, Forbidden, Invalid, NotFound
from node.federation import outbox, records
from node.federation.identity import Identity
from node.federation.intake import Rejection
from node.store import Store, Tx
from schemas.envelope import Header
from schemas.lab import Post, PostInput, Report, ReportInput, Theme, ThemeInput

__all__ = [
    "THEME", "POST", "REPORT", "Item", "KIND_OF", "TYPE_OF", "open_theme", "write_post", "write_report", "retract", "check_record", "save", "find", "find_own_in", "patch",
]

THEME: Final = "lab_theme"
POST: Final = "lab_post"
REPORT: Final = "lab_report"
Item = Theme | Post | Report
KIND_OF: Final[dict[type[msgspec.Struct], str]] = {Theme: THEME, Post: POST, Report: REPORT}
TYPE_OF: Final[dict[str, type[Theme] | type[Post] | type[Report]]] = {THEME: Theme, POST: Post, REPORT: Report}
I = TypeVar("I", Theme, Post, Report)


def patch(item: I, edit: msgspec.Struct, now: dt.datetime) -> I:
    """An edit of a theme, post or report (ThemeEdit, PostEdit, ReportEdit): the fields it
    gives, replaced; the same record when nothing changes (no new version is sent)."""
    if item.status == "retracted":
        raise Conflict("a retracted record cannot be edited", field="id")
    changes = {k: v for k, v in msgspec.structs.asdict(edit).items() if v is not msgspec.UNSET}
    if all(getattr(item, k) == v for k, v in changes.items()):
        return item
    return msgspec.structs.replace(item, **changes, updated_at=now)


def open_theme(space: str, inp: ThemeInput, theme_id: str, now: dt.datetime) -> Theme:
    return Theme(id=theme_id, space=space, title=inp.title, question=inp.question, tags=inp.tags,
                 meeting=inp.meeting, created_at=now, updated_at=now)


def _open_for(theme: Theme, what: str) -> None:
    if theme.status == "retracted":
        raise Conflict(f"the theme was retracted by {theme.space}: no {what} can be added", field="id")


def write_post(space: str, theme: Theme, inp: PostInput, post_id: str, now: dt.datetime, *,
               author_name: str = "", parent: Post | None = None) -> Post:
    """A post in a theme, or a reply to one of its posts (one level deep, never to a retracted post)."""
    _open_for(theme, "posts")
    if theme.status == "closed":
        raise Conflict("the theme is closed for discussion (reports are still welcome)", field="id")
    reply_to = ""
    if inp.reply_to is not None:
        if parent is None or parent.id != inp.reply_to or parent.theme != theme.id:
            raise Invalid(f"no post {inp.reply_to!r} in this theme to reply to", field="reply_to")
        if parent.status == "retracted":
            raise Invalid("that post was retracted by its author: it cannot be replied to", field="reply_to")
        if parent.reply_to:
            raise Invalid("replies go one level deep: reply to the post it answers instead", field="reply_to")
        reply_to = parent.id
    return Post(id=post_id, space=space, theme=theme.id, body=inp.body, author_name=author_name, reply_to=reply_to,
                created_at=now, updated_at=now)


def write_report(space: str, theme: Theme, inp: ReportInput, report_id: str, now: dt.datetime) -> Report:
    _open_for(theme, "reports")
    fields = msgspec.structs.asdict(inp)
    return Report(id=report_id, space=space, theme=theme.id, **fields, created_at=now, updated_at=now)


def retract(item: I, now: dt.datetime) -> I:
    """The record's last version: status retracted, its text gone (kept: ids, theme, times)."""
    if item.status == "retracted":
        raise Conflict("it is already retracted", field="id")
    empty: dict[str, Any] = {}
    for name in item.__struct_fields__:
        value = getattr(item, name)
        if name not in ("id", "space", "theme", "reply_to", "created_at", "updated_at", "status"):
            empty[name] = "" if isinstance(value, str) else []
    return msgspec.structs.replace(item, **empty, status="retracted", updated_at=now)


def _text_fields(item: Item) -> dict[str, Any]:
    return {n: getattr(item, n) for n in item.__struct_fields__
            if n not in ("id", "space", "theme", "reply_to", "status", "created_at", "updated_at")}


def check_record(h: Header, body: msgspec.Struct, signer: bytes) -> None:
    """A theme, post or report from a peer: its author's, under its own id; text where it must be."""
    assert isinstance(body, (Theme, Post, Report))
    if body.space != h.author or body.id != h.record_id:
        raise Rejection("header_mismatch", "a LAB record must be written by its author, under its own id", author=h.author)
    if body.status == "retracted":
        if any(_text_fields(body).values()):
            raise Invalid("a retracted record keeps no text", field="status")
        return
    required = "body" if isinstance(body, Post) else "title"
    if not getattr(body, required).strip():
        raise Invalid("must not be blank", field=required)
    if isinstance(body, Post) and body.reply_to == body.id:
        raise Invalid("a post cannot reply to itself", field="reply_to")


def save(tx: Tx, ident: Identity, item: Item, version: int) -> None:
    outbox.append(tx, ident, kind=KIND_OF[type(item)], record_id=item.id, version=version, body=item)


async def find(store: Store, type_: type[I], record_id: str) -> tuple[I, int]:
    """A record by id, whoever wrote it (an id belongs to its first author at every node)."""
    kind = KIND_OF[type_]
    row = await store.one("SELECT body, version FROM records WHERE kind = ? AND record_id = ? ORDER BY version DESC LIMIT 1",
                          (kind, record_id))
    if row is None:
        raise NotFound(f"no {kind.removeprefix('lab_')} {record_id!r}", field="id")
    return msgspec.msgpack.decode(row["body"], type=type_), int(row["version"])


def find_own_in(tx: Tx, me: str, type_: type[I], record_id: str) -> tuple[I, int]:
    """This space's own record, to change it; another space's is refused (403), nothing changed."""
    kind = KIND_OF[type_]
    held = records.get_in(tx, me, kind, record_id, type_)
    if held is not None:
        return held
    owner = tx.scalar("SELECT author FROM records WHERE kind = ? AND record_id = ? LIMIT 1", (kind, record_id))
    if owner is not None:
        raise Forbidden(f"only {owner} changes its {kind.removeprefix('lab_')}: use labels to change your view of it",
                        field="id")
    raise NotFound(f"no {kind.removeprefix('lab_')} {record_id!r}", field="id")
