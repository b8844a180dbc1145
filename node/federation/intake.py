"""The first checks on anything that arrives from the bus, cheapest and safest first.

Size, then the Ed25519 signature over the raw signed bytes, then a strict decode of the
header, then the subject against the header, the addressee, and the clock (DESIGN §4).
Each failure is a `Rejected` with a short reason code that goes to quarantine. Checks
that need the node's state (pinned keys, chains, versions) live in replica.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import msgspec

from node.federation.identity import verify
from schemas.envelope import (
    DOMAIN_TAG,
    MAX_ENVELOPE_BYTES,
    Envelope,
    Header,
    Signed,
    envelope_hash,
)

__all__ = ["Incoming", "Verified", "Rejection", "check"]

_envelope: Final = msgspec.msgpack.Decoder(Envelope)
_signed: Final = msgspec.msgpack.Decoder(Signed)


class Verified(msgspec.Struct, frozen=True):
    header: Header
    body: bytes
    key: bytes
    raw: bytes
    hash: bytes


class Incoming(msgspec.Struct, frozen=True):
    """One message as it came: from a consumer (subject set) or from sync (subject None)."""

    data: bytes
    subject: str | None
    source: str


class Rejection(Exception):
    """Why a record was refused: a reason code for metrics and a sentence for people."""

    def __init__(self, reason: str, detail: str, *, author: str = "", alert: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.author = author
        self.alert = alert  # also raise this kind of alert to the operator


def subject_author(subject: str) -> str:
    parts = subject.split(".")
    return parts[-1] if len(parts) >= 4 else ""


def check(
    raw: bytes, subject: str | None, *, me: str, now: dt.datetime, max_skew: dt.timedelta
) -> Verified:
    """Verify one envelope; `subject` is None for records fetched by sync (no subject)."""
    author = subject_author(subject) if subject else ""
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise Rejection("oversized", f"{len(raw)} bytes, the limit is {MAX_ENVELOPE_BYTES}", author=author)
    try:
        env = _envelope.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise Rejection("not_envelope", f"not an envelope: {e}", author=author) from None
    if not verify(env.key, env.signed, env.sig):
        raise Rejection("bad_signature", "the signature does not match the signed bytes", author=author)
    if not env.signed.startswith(DOMAIN_TAG):
        raise Rejection("bad_domain", "signed bytes lack the hitode/v1 domain tag", author=author)
    try:
        signed = _signed.decode(env.signed[len(DOMAIN_TAG):])
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise Rejection("bad_header", f"header does not decode: {e}", author=author) from None
    h = signed.header
    if subject is not None and subject != h.subject():
        raise Rejection(
            "subject_mismatch",
            f"published on {subject} but the signed header says {h.subject()}",
            author=h.author,  # who signed it, not whom the subject names
        )
    if h.is_dm and h.channel != me and h.author != me:  # its own: a restored node taking them back
        raise Rejection("misaddressed", f"a dm for {h.channel} reached {me}", author=h.author)
    if h.seq == 1 and h.prev:
        raise Rejection("bad_chain", "seq 1 must have no prev", author=h.author)
    created = h.created_at if h.created_at.tzinfo else h.created_at.replace(tzinfo=dt.UTC)
    # Only the future is suspect: an old record is normal after an outage or from sync.
    if created - now > max_skew:
        raise Rejection(
            "clock_skew", f"created_at {created.isoformat()} is ahead of this clock", author=h.author
        )
    return Verified(h, signed.body, env.key, raw, envelope_hash(env.signed))
