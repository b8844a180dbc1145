"""Notes: sealed direct messages between operators of two spaces.

A note is sealed to the recipient's box key from its space record, so the sender must
already see the recipient in its directory. Only the two spaces ever hold it.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from node.errors import Invalid, NotFound
from node.federation import outbox
from node.federation.directory import box_key_of
from node.federation.identity import Identity
from node.store import Store, Tx
from schemas.note import Note, NoteInput

__all__ = ["compose", "send", "listing", "KIND"]

KIND: Final = "note"


def compose(me: str, inp: NoteInput, record_id: str) -> Note:
    """The domain rule: a note to another space, version 1."""
    if inp.to == me:
        raise Invalid("a note goes to another space, not to this one", field="to")
    return Note(author=me, to=inp.to, record_id=record_id, version=1, subject=inp.subject, text=inp.text)


async def send(store: Store, ident: Identity, inp: NoteInput) -> Note:
    note = compose(ident.space, inp, outbox.new_id())

    def unit(tx: Tx) -> None:
        key = box_key_of(tx, inp.to)
        if key is None:
            raise NotFound(f"space {inp.to!r} is not in the directory yet", field="to")
        outbox.append(tx, ident, kind=KIND, record_id=note.record_id, version=1, body=note,
                      channel=inp.to, recipient_box_key=key)

    await store.transact(unit)
    return note


async def listing(store: Store, me: str) -> list[dict[str, Any]]:
    rows = await store.all(
        "SELECT body, updated_at FROM records WHERE kind = ? AND (author = ? OR channel = ?)"
        " ORDER BY updated_at DESC LIMIT 500",
        (KIND, me, me),
    )
    dec = msgspec.msgpack.Decoder(Note)
    out = []
    for r in rows:
        d = msgspec.to_builtins(dec.decode(r["body"]))
        d.pop("type", None)
        d["direction"] = "out" if d["author"] == me else "in"
        d["at"] = r["updated_at"]  # when this node wrote or received it (seconds since the epoch)
        out.append(d)
    return out
