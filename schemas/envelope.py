"""The envelope: how every record crosses the bus, signed once and never re-serialised.

An envelope is ``{signed, sig, key}``. ``signed`` is the domain tag ``hitode/v1`` followed
by the MessagePack of a ``Signed`` (header + body bytes); ``sig`` is the Ed25519 signature
over exactly those bytes; ``key`` is the signer's public key, carried so that a receiver
can verify a record before it knows anything else about its author (the key is then
checked against the pinned key for the author: trust on first use). The body stays bytes
until the signature holds: msgspec's delayed decoding, two stages.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Final

import msgspec

from schemas.ids import Kind, RecordId, SpaceId
from schemas.time import DateTime

__all__ = [
    "Sealed",
    "DOMAIN_TAG",
    "MAX_ENVELOPE_BYTES",
    "Channel",
    "Header",
    "Signed",
    "Envelope",
    "envelope_hash",
    "PUB",
]

DOMAIN_TAG: Final = b"hitode/v1\x00"
MAX_ENVELOPE_BYTES: Final = 64 * 1024
PUB: Final = "pub"

Channel = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(pub|[a-z0-9-]{2,32})$",
        description="'pub', or the recipient's space id for a dm",
    ),
]


class Header(msgspec.Struct, frozen=True, kw_only=True):
    """What a receiver checks before it looks at the body.

    `seq` counts per (author, channel) from 1 with no gaps; `prev` is the hash of the
    author's previous envelope on that channel (empty for seq 1), so a receiver can tell a
    lost record from a forked history.
    """

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    author: SpaceId
    channel: Channel
    seq: Annotated[int, msgspec.Meta(ge=1)]
    prev: Annotated[bytes, msgspec.Meta(max_length=32)]
    kind: Kind
    record_id: RecordId
    version: Annotated[int, msgspec.Meta(ge=1)]
    created_at: DateTime

    @property
    def is_dm(self) -> bool:
        return self.channel != PUB

    def subject(self) -> str:
        if self.channel == PUB:
            return f"hitode.pub.{self.kind}.{self.author}"
        return f"hitode.dm.{self.channel}.{self.kind}.{self.author}"


class Signed(msgspec.Struct, frozen=True, array_like=True):
    """The signed part: header and the body, still encoded (sealed, for a dm)."""

    header: Header
    body: bytes


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    signed: Annotated[bytes, msgspec.Meta(max_length=MAX_ENVELOPE_BYTES)]
    sig: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]
    key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


def envelope_hash(signed: bytes) -> bytes:
    """The hash chained through `prev`: over the signed bytes (tag, header, body).

    Not over the outer envelope: anyone can re-encode that (add a field, reorder keys)
    without breaking the signature, and must not be able to fork a chain by doing so.
    """
    return hashlib.sha256(signed).digest()


class Sealed(msgspec.Struct, frozen=True, kw_only=True):
    """A dm body: the plaintext record boxed to the recipient.

    `box_key` is the sender's X25519 public key; it sits inside the signed bytes, so the
    pinned Ed25519 key vouches for it, and it must equal the box key of the sender's own
    space record when the receiver has one.
    """

    box_key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    nonce: Annotated[bytes, msgspec.Meta(min_length=24, max_length=24)]
    ciphertext: bytes
