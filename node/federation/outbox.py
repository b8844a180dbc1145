"""The transactional outbox: own records signed once, kept, and queued for the relay.

`append` runs inside the caller's write transaction: it signs the record, appends it to
the author's chain and to the log, and queues it; the write and its outgoing record commit
together (DESIGN §3.2), and the commit wakes the relay (topic `OUTBOX`), so no caller has
to remember to. The relay (relay.py) publishes those exact bytes until JetStream acks.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Final

import msgspec
import uuid6

from node.errors import Conflict, TooLarge, bad_input_from
from node.federation import records
from node.federation.identity import Identity
from node.store import Tx
from schemas.envelope import (
    DOMAIN_TAG,
    MAX_ENVELOPE_BYTES,
    PUB,
    Envelope,
    Header,
    Sealed,
    Signed,
    envelope_hash,
)

__all__ = ["append", "new_id", "OUTBOX"]

OUTBOX: Final = "outbox"  # the commit topic that wakes the relay
_enc: Final = msgspec.msgpack.Encoder()


def new_id() -> str:
    """UUIDv7: globally unique and sortable by creation time."""
    return str(uuid6.uuid7())


def append(
    tx: Tx,
    ident: Identity,
    *,
    kind: str,
    record_id: str,
    version: int,
    body: msgspec.Struct,
    channel: str = PUB,
    recipient_box_key: bytes | None = None,
) -> Header:
    """Sign a record and queue it, inside the caller's transaction."""
    row = tx.one("SELECT seq, head FROM chains WHERE author = ? AND channel = ?", (ident.space, channel))
    seq, prev = (int(row[0]) + 1, bytes(row[1])) if row else (1, b"")
    plain = _enc.encode(body)
    try:
        # A Struct built in Python is not validated; peers would refuse what breaks the
        # schema (and every later record of ours would wait behind it), so check it here.
        msgspec.msgpack.decode(plain, type=type(body))
    except msgspec.ValidationError as e:
        raise bad_input_from(e, "this record breaks the schema: ") from None
    if channel == PUB:
        payload = plain
    else:
        if recipient_box_key is None:
            raise ValueError("a dm needs the recipient's box key")
        nonce, ciphertext = ident.seal(plain, recipient_box_key)
        payload = _enc.encode(Sealed(box_key=ident.box_key, nonce=nonce, ciphertext=ciphertext))
    header = Header(
        id=new_id(),
        author=ident.space,
        channel=channel,
        seq=seq,
        prev=prev,
        kind=kind,
        record_id=record_id,
        version=version,
        created_at=dt.datetime.now(dt.UTC),
    )
    signed = DOMAIN_TAG + _enc.encode(Signed(header, payload))
    raw = _enc.encode(Envelope(signed=signed, sig=ident.sign(signed), key=ident.sign_key))
    if len(raw) > MAX_ENVELOPE_BYTES:
        # Peers would refuse it, and every later record of this space would wait behind it.
        raise TooLarge(f"the record is {len(raw)} bytes; the limit is {MAX_ENVELOPE_BYTES}")
    digest = envelope_hash(signed)
    now = time.time()
    tx.execute(
        "INSERT INTO log (author, channel, seq, id, hash, prev, kind, record_id, version, raw,"
        " state, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'applied', ?)",
        (ident.space, channel, seq, header.id, digest, prev, kind, record_id, version, raw, now),
    )
    tx.execute(
        "INSERT INTO chains (author, channel, seq, head) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (author, channel) DO UPDATE SET seq = excluded.seq, head = excluded.head",
        (ident.space, channel, seq, digest),
    )
    tx.execute(
        "INSERT INTO outbox (id, channel, seq, subject, enqueued_at) VALUES (?, ?, ?, ?, ?)",
        (header.id, channel, seq, header.subject(), now),
    )
    stored = records.put(
        tx,
        author=ident.space,
        kind=kind,
        record_id=record_id,
        channel=channel,
        version=version,
        body=plain,
        hash=digest,
    )
    if not stored:
        raise Conflict(f"version {version} of {kind} {record_id} is not newer than the one held; try again")
    if version == 1:
        # Ours from the start; a peer's record under the same id of a kind addressed by
        # id alone is refused here as it is everywhere (replica.py).
        tx.execute("INSERT OR IGNORE INTO owners (kind, record_id, author) VALUES (?, ?, ?)",
                   (kind, record_id, ident.space))
    tx.require_durable()  # signed and about to leave: it must never be signed twice differently
    tx.notify(OUTBOX)
    return header
