"""The LAB's writes, shared by the JSON API and the pages: each one a single transaction in
which the rule decides, the new version goes to the outbox, and the search index follows.

Everything a write depends on is read inside its transaction (the theme a post joins, the
post it answers, this space's own version of what it edits), so two writes at once never
decide on a stale read; a refused write raises before anything is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final, TypeVar

import msgspec

from node.errors import Invalid, NotFound, PreconditionFailed
from node.events import rules as events
from node.federation.identity import Identity
from node.federation.outbox import new_id
from node.lab import labels, rules
from node.lab.rules import POST, REPORT, THEME, Item
from node.members import rules as members
from node.store import Store, Tx
from schemas.lab import Label, LabelInput, Post, PostInput, Report, ReportInput, Theme, ThemeInput

__all__ = ["open_theme", "write_post", "write_report", "edit", "retract", "label", "Indexer"]

I = TypeVar("I", Theme, Post, Report)
# Keeps the search index in step with a record, in the record's own transaction.
Indexer = Callable[[Tx, Item], None]
_LAB_KINDS: Final = (THEME, POST, REPORT)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _theme_in(tx: Tx, theme_id: str) -> Theme:
    row = tx.one("SELECT body FROM records WHERE kind = ? AND record_id = ? LIMIT 1", (THEME, theme_id))
    if row is None:
        raise NotFound(f"no theme {theme_id!r}", field="id")
    return msgspec.msgpack.decode(row[0], type=Theme)


async def _check_meeting(store: Store, meeting: str) -> None:
    if meeting:
        try:
            await events.find(store, meeting)
        except NotFound:
            raise Invalid(f"no event {meeting!r} in the calendar to hold the meeting", field="meeting") from None


async def open_theme(store: Store, ident: Identity, inp: ThemeInput, index: Indexer) -> Theme:
    await _check_meeting(store, inp.meeting)
    theme = rules.open_theme(ident.space, inp, new_id(), _now())

    def unit(tx: Tx) -> None:
        rules.save(tx, ident, theme, 1)
        index(tx, theme)

    await store.transact(unit)
    return theme


async def write_post(store: Store, ident: Identity, theme_id: str, inp: PostInput, index: Indexer) -> Post:
    """A post (or reply) by the space, or by one of its members: named only if they chose to be."""
    name = ""
    if inp.member is not None:
        try:
            member = await members.get(store, inp.member, field="member")
        except NotFound as e:
            raise Invalid(e.message, field="member") from None
        name = member["name"] if member["share_name"] else ""

    def unit(tx: Tx) -> Post:
        theme = _theme_in(tx, theme_id)
        parent = None
        if inp.reply_to is not None:
            row = tx.one("SELECT body FROM records WHERE kind = ? AND record_id = ? LIMIT 1", (POST, inp.reply_to))
            parent = None if row is None else msgspec.msgpack.decode(row[0], type=Post)
        post = rules.write_post(ident.space, theme, inp, new_id(), _now(), author_name=name, parent=parent)
        rules.save(tx, ident, post, 1)
        index(tx, post)
        return post

    return await store.transact(unit)


async def write_report(store: Store, ident: Identity, theme_id: str, inp: ReportInput, index: Indexer) -> Report:
    def unit(tx: Tx) -> Report:
        report = rules.write_report(ident.space, _theme_in(tx, theme_id), inp, new_id(), _now())
        rules.save(tx, ident, report, 1)
        index(tx, report)
        return report

    return await store.transact(unit)


async def edit(store: Store, ident: Identity, type_: type[I], record_id: str, change: msgspec.Struct,
               index: Indexer, *, expect: int | None = None) -> tuple[I, int]:
    """This space's own theme, post or report, edited: a new version when anything changed.
    `expect`: the version the operator edited (If-Match, or the form's); another one means
    an edit was made meanwhile, and nothing is changed rather than overwriting it."""
    if isinstance(meeting := getattr(change, "meeting", None), str):
        await _check_meeting(store, meeting)

    def unit(tx: Tx) -> tuple[I, int]:
        item, version = rules.find_own_in(tx, ident.space, type_, record_id)
        if expect is not None and version != expect:
            raise PreconditionFailed(f"it is at version {version}, not {expect}: read it again, then edit",
                                     field="If-Match")
        new = rules.patch(item, change, _now())
        if new == item:
            return item, version
        rules.save(tx, ident, new, version + 1)
        index(tx, new)
        return new, version + 1

    return await store.transact(unit)


async def retract(store: Store, ident: Identity, type_: type[I], record_id: str, index: Indexer) -> tuple[I, int]:
    """This space's own record, retracted: its last version, with its text gone everywhere."""

    def unit(tx: Tx) -> tuple[I, int]:
        item, version = rules.find_own_in(tx, ident.space, type_, record_id)
        new = rules.retract(item, _now())
        rules.save(tx, ident, new, version + 1)
        index(tx, new)
        return new, version + 1

    return await store.transact(unit)


async def label(store: Store, ident: Identity, inp: LabelInput) -> tuple[Label, int]:
    """This space's label on a LAB record (or its undoing), published as a record of its own."""
    lab = labels.make(ident.space, inp, _now())

    def unit(tx: Tx) -> tuple[Label, int]:
        known = tx.scalar(f"SELECT 1 FROM records WHERE kind IN ({','.join('?' * len(_LAB_KINDS))}) AND record_id = ?",
                          (*_LAB_KINDS, inp.subject))
        if known is None:
            raise NotFound(f"no theme, post or report {inp.subject!r} to label", field="subject")
        return lab, labels.save(tx, ident, lab)

    return await store.transact(unit)
