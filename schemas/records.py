"""The union of record bodies and their decoders: one place that knows every kind.

Adding a kind means adding its Struct here; the AsyncAPI document is generated from this
table. Bodies tolerate unknown fields (schema evolution: new fields get defaults), so a
newer peer's record is never refused for a field this node does not know yet.
"""

from __future__ import annotations

from typing import Final

import msgspec

from schemas.event import Event, Rsvp, RsvpStatus
from schemas.note import Note
from schemas.space import KeyRotation, SpaceProfile

__all__ = ["KINDS", "DM_KINDS", "PUB_KINDS", "Body", "decode_body", "encode_body"]

Body = SpaceProfile | KeyRotation | Event | Note | Rsvp | RsvpStatus

PUB_KINDS: Final[dict[str, type[msgspec.Struct]]] = {
    "space": SpaceProfile, "rotation": KeyRotation, "event": Event,
}
DM_KINDS: Final[dict[str, type[msgspec.Struct]]] = {
    "note": Note, "rsvp": Rsvp, "rsvp_status": RsvpStatus,
}
KINDS: Final[dict[str, type[msgspec.Struct]]] = {**PUB_KINDS, **DM_KINDS}

_decoders: Final = {kind: msgspec.msgpack.Decoder(t) for kind, t in KINDS.items()}
_encoder: Final = msgspec.msgpack.Encoder()


def decode_body(kind: str, data: bytes) -> msgspec.Struct:
    """Decode a verified body by its header kind; raises msgspec errors or KeyError."""
    return _decoders[kind].decode(data)


def encode_body(body: msgspec.Struct) -> bytes:
    return _encoder.encode(body)
