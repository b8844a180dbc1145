"""A home space's status list: one bit per pass it issued, set when the pass is revoked.

Shaped like the IETF OAuth Token Status List: a bit array, least significant bit first
within each byte, compressed with zlib (DEFLATE), published as a `pub` record whenever a
pass is issued or revoked. The envelope's signature is the list's signature, and every
host keeps the newest version it applied, so it refuses a revoked pass while the home node
is down. A pass whose index is beyond the list a host holds was issued after it: not
revoked as far as anyone can tell yet.
"""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Final

from node.federation import outbox, records
from node.federation.identity import Identity
from node.federation.intake import Rejection
from node.store import Tx
from schemas.envelope import Header
from schemas.visa import VisaStatus

__all__ = ["KIND", "pack", "unpack", "revoked", "publish", "check_record"]

KIND: Final = "visa_status"


def pack(revoked_indices: set[int], size: int) -> bytes:
    bits = bytearray((size + 7) // 8)
    for i in revoked_indices:
        bits[i // 8] |= 1 << (i % 8)
    return zlib.compress(bytes(bits), 9)


def unpack(bits: bytes) -> bytes:
    # Bounded: a hostile list cannot inflate past what `size` allows (8M bits = 1 MB).
    d = zlib.decompressobj()
    out = d.decompress(bits, 1_000_001)
    if d.unconsumed_tail:
        raise ValueError("the status list inflates past its limit")
    return out


def revoked(status: VisaStatus, index: int) -> bool:
    if index >= status.size:
        return False
    raw = unpack(status.bits)
    return index // 8 < len(raw) and bool(raw[index // 8] >> (index % 8) & 1)


def publish(tx: Tx, ident: Identity) -> VisaStatus:
    """A new version of this space's list from its passes table, in the caller's unit."""
    size = int(tx.scalar("SELECT coalesce(max(idx) + 1, 0) FROM visa_passes") or 0)
    gone = {int(r[0]) for r in tx.all("SELECT idx FROM visa_passes WHERE revoked_at IS NOT NULL")}
    body = VisaStatus(space=ident.space, size=size, bits=pack(gone, size), updated_at=dt.datetime.now(dt.UTC))
    version = records.version_of(tx, ident.space, KIND, ident.space) + 1
    outbox.append(tx, ident, kind=KIND, record_id=ident.space, version=version, body=body)
    return body


def check_record(h: Header, body: object, signer: bytes) -> None:
    """A space publishes its own list, under its own id, and one that inflates sanely."""
    assert isinstance(body, VisaStatus)
    if body.space != h.author or h.record_id != h.author:
        raise Rejection("header_mismatch", "a status list must be its author's own", author=h.author)
    try:
        raw = unpack(body.bits)
    except (ValueError, zlib.error) as e:
        raise Rejection("bad_body", f"the status list does not inflate: {e}", author=h.author) from None
    if len(raw) < (body.size + 7) // 8:
        raise Rejection("bad_body", "the status list is shorter than its size", author=h.author)
