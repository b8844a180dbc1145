"""The attacker's workbench: envelopes built like node/outbox.py builds them, but with any header.

A test crafts hostile records with the project's own schemas and an `Identity` it
generated (or loaded), so every byte but the one under test is exactly what a real node
would send. `forge` signs whatever header it is told to; the knobs that break a record
(`key_override`, `flip_sig`, a wrong `author` or `channel`) are explicit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import msgspec
import nats.js
from msgspec.msgpack import encode as encode_body
from nats.js.api import Header as NatsHeader

from node.federation.identity import Identity
from node.federation.outbox import new_id
from schemas.envelope import (
    DOMAIN_TAG,
    PUB,
    Envelope,
    Header,
    Sealed,
    Signed,
    envelope_hash,
)
from schemas.note import Note
from schemas.space import SpaceProfile
from tests.eventually import eventually

__all__ = ["Forged", "forge", "profile", "sealed_note", "inject"]

_enc: Final = msgspec.msgpack.Encoder()


class Forged(msgspec.Struct, frozen=True):
    """A crafted envelope: the bytes as they travel, their chain hash, and the signed header."""

    raw: bytes
    hash: bytes
    header: Header

    @property
    def subject(self) -> str:
        """The subject the signed header claims (publish elsewhere to lie about it)."""
        return self.header.subject()


def profile(ident: Identity, *, space: str | None = None, **fields: Any) -> SpaceProfile:
    """A space record for `space` (default: the identity's own) carrying `ident`'s keys."""
    sid = space or ident.space
    fields.setdefault("name", f"{sid.title()} Coworking")
    return SpaceProfile(id=sid, sign_key=ident.sign_key, box_key=ident.box_key, **fields)


def sealed_note(ident: Identity, *, to: str, to_box_key: bytes, text: str, version: int = 1) -> tuple[str, bytes]:
    """A note boxed to `to` as node/notes.py would send it: (record id, sealed body bytes)."""
    record_id = new_id()
    note = Note(author=ident.space, to=to, record_id=record_id, version=version, text=text)
    nonce, ciphertext = ident.seal(encode_body(note), to_box_key)
    return record_id, _enc.encode(Sealed(box_key=ident.box_key, nonce=nonce, ciphertext=ciphertext))


def forge(
    ident: Identity,
    *,
    kind: str = "space",
    seq: int = 1,
    prev: bytes = b"",
    version: int = 1,
    body: msgspec.Struct | bytes | None = None,
    author: str | None = None,
    channel: str = PUB,
    record_id: str | None = None,
    key_override: bytes | None = None,
    created_at: dt.datetime | None = None,
    flip_sig: bool = False,
) -> Forged:
    """Sign an envelope with `ident` for arbitrary header fields; nothing here is validated.

    Defaults give a well-formed space record of `author` (default: `ident.space`) at seq 1.
    `key_override` replaces the carried public key after signing; `flip_sig` flips one bit
    of the signature.
    """
    who = author or ident.space
    if body is None:
        body = profile(ident, space=who) if kind == "space" else b""
    payload = body if isinstance(body, bytes) else encode_body(body)
    header = Header(
        id=new_id(),
        author=who,
        channel=channel,
        seq=seq,
        prev=prev,
        kind=kind,
        record_id=record_id or who,
        version=version,
        created_at=created_at or dt.datetime.now(dt.UTC),
    )
    signed = DOMAIN_TAG + _enc.encode(Signed(header, payload))
    sig = ident.sign(signed)
    if flip_sig:
        sig = bytes([sig[0] ^ 0x01]) + sig[1:]
    raw = _enc.encode(Envelope(signed=signed, sig=sig, key=key_override or ident.sign_key))
    return Forged(raw, envelope_hash(signed), header)


async def inject(js: nats.js.JetStreamContext, subject: str, data: bytes, *, msg_id: str | None = None) -> int:
    """Publish raw bytes into stream HITODE with a fresh (or given) msg-id; the stream seq.

    A node makes the stream when its bus connects, in the background after it serves HTTP:
    until then nothing answers, and the same message is tried again (bounded)."""
    headers = {NatsHeader.MSG_ID: msg_id or new_id()}
    ack = await eventually(lambda: js.publish(subject, data, headers=headers), timeout=15, interval=0.1)
    assert not ack.duplicate, f"JetStream deduplicated the injected message on {subject}"
    return ack.seq


def prev_of(raw: bytes) -> bytes:
    """What the next record's `prev` names: the hash of this one's signed bytes."""
    return envelope_hash(msgspec.msgpack.decode(raw, type=Envelope).signed)
