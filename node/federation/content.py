"""Opening a verified record's body and checking it against its signed header.

A `pub` body is plain MessagePack; a `dm` body is a Box sealed to this node, opened with
the sender's X25519 key (which the signed bytes vouch for). Every dm repeats author,
recipient, record id and version inside the seal; each kind's own rule (its `Kind.check`,
declared by the feature that owns it) ties the rest of the body to the header.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from typing import Any, Final

import msgspec

from node.errors import BadInput, Rejected
from node.federation.identity import Identity
from node.federation.intake import Rejection, Verified
from node.federation.kinds import Kinds
from schemas.envelope import Sealed
from schemas.text import explain

__all__ = ["Opened", "open_body"]

_sealed: Final = msgspec.msgpack.Decoder(Sealed)
_json: Final = msgspec.json.Encoder()


class Opened(msgspec.Struct, frozen=True):
    plain: bytes
    body: msgspec.Struct
    box_key: bytes  # the sender's X25519 key, for a dm; empty for pub


def open_body(ident: Identity, kinds: Kinds, v: Verified, sender_box_keys: Collection[bytes] | None,
              recipient_box_keys: Collection[bytes] = ()) -> Opened:
    """`sender_box_keys`: the box keys the sender's own records name, if this node holds any.
    `recipient_box_keys`: for a dm this node wrote itself (taken back after a restore), the
    recipient's keys: a Box opens with either side's secret and the other's public key."""
    h = v.header
    kind = kinds.get(h.kind)
    if kind is None or kind.dm != h.is_dm:
        raise Rejection("unknown_kind", f"kind {h.kind!r} is not known on channel {h.channel}", author=h.author)
    plain, box_key = v.body, b""
    if h.is_dm:
        try:
            sealed = _sealed.decode(v.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise Rejection("bad_body", f"sealed body: {e}", author=h.author) from None
        if sender_box_keys is not None and sealed.box_key not in sender_box_keys:
            raise Rejection("key_mismatch", "sealed with a box key other than the sender's", author=h.author)
        box_key = sealed.box_key
        others = [sealed.box_key] if h.author != ident.space else list(recipient_box_keys)
        for other in others:
            try:
                plain = ident.unseal(sealed.nonce, sealed.ciphertext, other)
                break
            except Rejected:
                continue
        else:
            raise Rejection("bad_body", "sealed body does not open with the sender's box key", author=h.author)
    try:
        body = kinds.decode(h.kind, plain)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise Rejection("bad_body", f"{h.kind} body: {explain(str(e))}", author=h.author) from None
    if not _all_nfc(body) and (where := _not_nfc(body)) is not None:
        # HTTP input is normalised where it enters; a peer must send what it would accept.
        raise Rejection("bad_text", f"{h.kind} {where}: text is not in Unicode NFC form", author=h.author)
    if h.is_dm:
        want = (h.author, h.channel, h.record_id, h.version)
        got = tuple(getattr(body, f, None) for f in ("author", "to", "record_id", "version"))
        if got != want:
            raise Rejection("header_mismatch", "the sealed body does not repeat its signed header", author=h.author)
    if kind.check is not None:
        try:
            kind.check(h, body, v.key)
        except BadInput as e:
            where = f" {e.field}" if e.field else ""
            raise Rejection("bad_body", f"{h.kind}{where}: {e.message}", author=h.author) from None
    return Opened(plain, body, box_key)


def _all_nfc(body: msgspec.Struct) -> bool:
    """Every string in the body is NFC, told at once from its JSON text (C code, no walk).

    Strings in JSON stand between quotes, which neither compose with nor reorder around
    the characters beside them, so the text is NFC exactly when each of its strings is;
    bytes become base64 and escapes are ASCII. Only a body that fails is walked, to name
    the field.
    """
    try:
        text = _json.encode(body)
    except (TypeError, msgspec.EncodeError):
        return False  # a type JSON cannot hold: walk it
    return text.isascii() or unicodedata.is_normalized("NFC", text.decode())


def _not_nfc(value: Any, path: str = "") -> str | None:
    """The path of the first string in a body that is not NFC, if any."""
    if isinstance(value, str):
        return None if value.isascii() or unicodedata.is_normalized("NFC", value) else (path or "text")
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            if (found := _not_nfc(getattr(value, name), f"{path}.{name}".lstrip("."))) is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            if (found := _not_nfc(v, f"{path}[{i}]")) is not None:
                return found
    elif isinstance(value, dict):
        for k, v in value.items():
            if (found := _not_nfc(k, path) or _not_nfc(v, f"{path}.{k}".lstrip("."))) is not None:
                return found
    return None
