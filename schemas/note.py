"""The note: a direct message from one space's operator to another's (a `dm` record).

It is the simplest sealed record and the one the node itself needs: operators of partner
spaces arrange visits and joint events by note. Like every dm plaintext it repeats the
header fields that the receiver must check against the signed header.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from schemas.ids import RecordId, SpaceId
from schemas.text import LINE, LONG_REQUIRED

__all__ = ["Note", "NoteInput"]


class Note(msgspec.Struct, frozen=True, kw_only=True, tag="note"):
    author: SpaceId
    to: SpaceId
    record_id: RecordId
    version: Annotated[int, msgspec.Meta(ge=1)]
    subject: Annotated[str, msgspec.Meta(max_length=200, pattern=LINE)] = ""
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=8000, pattern=LONG_REQUIRED)]


class NoteInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """HTTP input for POST /api/notes."""

    to: SpaceId
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=8000, pattern=LONG_REQUIRED)]
    subject: Annotated[str, msgspec.Meta(max_length=200, pattern=LINE)] = ""
