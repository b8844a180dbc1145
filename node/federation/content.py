"""Opening a verified record's body and checking it against its signed header.

A `pub` body is plain MessagePack; a `dm` body is a Box sealed to this node, opened with
the sender's X25519 key (which the signed bytes vouch for). Every kind has rules tying
its body to the header: a dm repeats author, recipient, record id and version; a space
record describes its own author and key; an event is hosted by its author.
"""

from __future__ import annotations

from typing import Final

import msgspec

from node.events import rules as events
from node.errors import BadInput, Rejected
from node.federation.identity import Identity
from node.federation.intake import Rejection, Verified
from schemas.event import Event
from schemas.note import Sealed
from schemas.records import DM_KINDS, KINDS, decode_body
from schemas.space import KeyRotation, SpaceProfile

__all__ = ["Opened", "open_body"]

_sealed: Final = msgspec.msgpack.Decoder(Sealed)


class Opened(msgspec.Struct, frozen=True):
    plain: bytes
    body: msgspec.Struct
    box_key: bytes  # the sender's X25519 key, for a dm; empty for pub


def open_body(ident: Identity, v: Verified, sender_box_key: bytes | None) -> Opened:
    """`sender_box_key` is the key in the sender's space record, if this node holds one."""
    h = v.header
    if h.kind not in KINDS or (h.kind in DM_KINDS) != h.is_dm:
        raise Rejection("unknown_kind", f"kind {h.kind!r} is not known on channel {h.channel}", author=h.author)
    plain, box_key = v.body, b""
    if h.is_dm:
        try:
            sealed = _sealed.decode(v.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise Rejection("bad_body", f"sealed body: {e}", author=h.author) from None
        if sender_box_key is not None and sender_box_key != sealed.box_key:
            raise Rejection("key_mismatch", "sealed with a box key other than the sender's", author=h.author)
        box_key = sealed.box_key
        try:
            plain = ident.unseal(sealed.nonce, sealed.ciphertext, sealed.box_key)
        except Rejected as e:
            raise Rejection("bad_body", e.message, author=h.author) from None
    try:
        body = decode_body(h.kind, plain)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise Rejection("bad_body", f"{h.kind} body: {e}", author=h.author) from None
    if h.is_dm:
        want = (h.author, h.channel, h.record_id, h.version)
        got = tuple(getattr(body, f, None) for f in ("author", "to", "record_id", "version"))
        if got != want:
            raise Rejection("header_mismatch", "the sealed body does not repeat its signed header", author=h.author)
    if isinstance(body, SpaceProfile):
        if body.id != h.author or h.record_id != h.author:
            raise Rejection("header_mismatch", "a space record must describe its author", author=h.author)
        if body.sign_key != v.key:
            raise Rejection("key_mismatch", "the space record names another signing key", author=h.author)
    elif isinstance(body, KeyRotation):
        if body.space != h.author or h.record_id != h.author:
            raise Rejection("header_mismatch", "a key rotation must name its author", author=h.author)
    elif isinstance(body, Event):
        if body.space != h.author or body.id != h.record_id:
            raise Rejection("header_mismatch", "an event must be hosted by its author, under its own id", author=h.author)
        try:  # the same rules as for our own events, except the window (it may be old)
            events.zone(body.tz)
            events.check_times(body.start, body.end, now=body.start)
        except BadInput as e:
            raise Rejection("bad_body", f"event {e.field}: {e.message}", author=h.author) from None
        if body.confirmed < 0 or body.waitlisted < 0:
            raise Rejection("bad_body", "event counts cannot be negative", author=h.author)
    return Opened(plain, body, box_key)
