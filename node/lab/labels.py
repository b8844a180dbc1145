"""Moderation without a centre (DESIGN §12): each space's labels, and the view a node shows.

Nobody removes another space's record. A space publishes labels (hide, pin, approve) about
records as records of its own; undoing one is a new version of the same label with
`undone` set, so the undo reaches every node as surely as the label did. A node's view is
what its own labels say, plus the labels of the spaces it chose to follow (which of their
labels, per space, is a local setting that never leaves the node). Its own word wins: a
label this space set or undid itself decides, whatever a followed space says; an own
`approve` keeps a record shown that a followed space hides.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable
from typing import Any, Final

import msgspec

from node.errors import Invalid
from node.federation import outbox, records
from node.federation.identity import Identity
from node.federation.intake import Rejection
from node.store import Store, Tx
from schemas.envelope import Header
from schemas.lab import LABEL_VALUES, Label, LabelInput

__all__ = ["KIND", "FOLLOWED", "MIGRATION", "record_id", "make", "save", "check_record", "View", "view", "follow", "follows", "own"]

KIND: Final = "lab_label"
FOLLOWED: Final = "lab-follows"  # the commit topic of a change to what this node follows (its view)
MIGRATION: Final = """
    CREATE TABLE lab_follows (
        space TEXT PRIMARY KEY,
        labels TEXT NOT NULL,
        since REAL NOT NULL
    );
"""
_dec: Final = msgspec.msgpack.Decoder(Label)


def record_id(subject: str, label: str) -> str:
    return f"{subject}:{label}"


def make(space: str, inp: LabelInput, now: dt.datetime) -> Label:
    return Label(space=space, subject=inp.subject, label=inp.label, undone=inp.undo, at=now)


def check_record(h: Header, body: msgspec.Struct, signer: bytes) -> None:
    """A peer's label: its own, under the id its subject and label make."""
    assert isinstance(body, Label)
    if body.space != h.author or h.record_id != record_id(body.subject, body.label):
        raise Rejection("header_mismatch", "a label must be its author's, under <subject>:<label>", author=h.author)


def save(tx: Tx, ident: Identity, label: Label) -> int:
    """Publish this space's label (a new version of it); the version written."""
    rid = record_id(label.subject, label.label)
    held = records.get_in(tx, ident.space, KIND, rid, Label)
    if held is not None and held[0].undone == label.undone:
        return held[1]  # already says so: no new version
    if held is None and label.undone:
        raise Invalid(f"this space has no {label.label} label on {label.subject} to undo", field="undo")
    version = (held[1] if held else 0) + 1
    outbox.append(tx, ident, kind=KIND, record_id=rid, version=version, body=label)
    return version


class View(msgspec.Struct, frozen=True):
    """What this node's view says about each record: the labels in force and who set them."""

    me: str
    says: dict[str, dict[str, str]]  # subject -> label -> the space whose label is in force

    def labels_of(self, subject: str) -> dict[str, str]:
        return self.says.get(subject, {})

    def hidden(self, subject: str) -> bool:
        said = self.labels_of(subject)
        return "hide" in said and not ("approve" in said and said["approve"] == self.me)

    def pinned(self, subject: str) -> bool:
        return "pin" in self.labels_of(subject)


async def view(store: Store, me: str) -> View:
    followed = await follows(store)
    wanted = {s: set(f["labels"]) for s, f in followed.items()}
    authors = [me, *wanted]
    rows = await store.all(
        f"SELECT author, body FROM records WHERE kind = ? AND author IN ({','.join('?' * len(authors))})",
        (KIND, *authors))
    mine: dict[tuple[str, str], bool] = {}
    theirs: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        lab = _dec.decode(r["body"])
        key = (lab.subject, lab.label)
        if r["author"] == me:
            mine[key] = not lab.undone
        elif not lab.undone and lab.label in wanted.get(r["author"], ()):
            theirs.setdefault(key, []).append(r["author"])
    says: dict[str, dict[str, str]] = {}
    for (subject, label), active in mine.items():
        if active:
            says.setdefault(subject, {})[label] = me
    for (subject, label), spaces in theirs.items():
        if (subject, label) not in mine:  # this space's own word, set or undone, decides
            says.setdefault(subject, {})[label] = min(spaces)
    return View(me, says)


async def own(store: Store, me: str) -> list[dict[str, Any]]:
    """This space's labels, newest first, undone ones too (to set again)."""
    rows = await store.all("SELECT body, version FROM records WHERE kind = ? AND author = ?", (KIND, me))
    out = [dict(msgspec.to_builtins(_dec.decode(r["body"])), version=int(r["version"])) for r in rows]
    for o in out:
        o.pop("type", None)
    return sorted(out, key=lambda o: str(o["at"]), reverse=True)


async def follows(store: Store) -> dict[str, dict[str, Any]]:
    rows = await store.all("SELECT space, labels, since FROM lab_follows ORDER BY space")
    return {r["space"]: {"space": r["space"], "labels": json.loads(r["labels"]), "since": r["since"]} for r in rows}


async def follow(store: Store, me: str, space: str, labels: Iterable[str]) -> dict[str, Any] | None:
    """Take `labels` of `space` into this node's view; none: stop following it. Local only."""
    if space == me:
        raise Invalid("this space's own labels are always in its view", field="space")
    chosen = [v for v in LABEL_VALUES if v in set(labels)]

    def unit(tx: Tx) -> None:
        if chosen:
            tx.execute("INSERT INTO lab_follows (space, labels, since) VALUES (?, ?, ?) ON CONFLICT (space)"
                       " DO UPDATE SET labels = excluded.labels", (space, json.dumps(chosen), time.time()))
        else:
            tx.execute("DELETE FROM lab_follows WHERE space = ?", (space,))
        tx.notify(FOLLOWED)

    await store.transact(unit)
    return (await follows(store)).get(space)
