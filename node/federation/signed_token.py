"""Compact signed tokens a person carries: COSE_Sign1 (RFC 9052) over CWT claims (RFC 8392).

A space signs a token with its Ed25519 key; anyone holding the space's pinned key checks
it offline. The text form is base45 behind a short prefix naming what it is ("HV1:" for a
visa pass, say), the shape of the EU Digital COVID Certificate, so it fits a small QR code
in alphanumeric mode. Unlike the certificate, the bytes are not zlib-compressed: a token
this small is mostly a signature and hashes, which do not compress, and zlib's header
would make it longer.

The codec is feature-neutral: it knows the registered claims (iss, sub, iat, exp, cti) and
carries a feature's own claims under short text names untouched. Reading and verifying
are two steps, because the verifier learns from the issuer claim whose key to check with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any, Final

import cbor2
import msgspec

from node.errors import BadInput, Invalid
from node.federation.base45 import b45decode, b45encode
from node.federation.identity import Identity, verify

__all__ = ["Token", "issue", "read", "check", "key_id", "TokenMalformed", "TokenForged", "TokenForeign",
           "TokenExpired"]

COSE_SIGN1_TAG: Final = 18
ALG: Final = 1  # COSE header label
KID: Final = 4
EDDSA: Final = -8  # COSE algorithm id
# CWT claim keys (RFC 8392 §3.1)
ISS, SUB, EXP, IAT, CTI = 1, 2, 4, 6, 7
LEEWAY: Final = dt.timedelta(minutes=5)  # clocks of the federation agree this well


class TokenMalformed(BadInput):
    code = "token_malformed"


class TokenForged(Invalid):
    """The signature does not verify under the issuer's key: the token was altered."""

    code = "token_tampered"


class TokenForeign(Invalid):
    """Signed by some other key than the issuer's pinned one."""

    code = "token_foreign"


class TokenExpired(Invalid):
    code = "token_expired"


class Token(msgspec.Struct, frozen=True, kw_only=True):
    """A token as read, before or after `check`: its claims and the bytes that were signed."""

    issuer: str
    subject: str
    token_id: bytes
    issued_at: dt.datetime
    expires_at: dt.datetime
    extra: dict[str, Any]  # the feature's own claims
    key_id: bytes
    protected: bytes
    payload: bytes
    signature: bytes


def key_id(sign_key: bytes) -> bytes:
    """The COSE `kid` of a space's key: it tells a foreign signer from a tampered token."""
    return hashlib.sha256(sign_key).digest()[:4]


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def issue(
    ident: Identity, prefix: str, *, subject: str, token_id: bytes, issued_at: dt.datetime,
    expires_at: dt.datetime, extra: Mapping[str, Any],
) -> str:
    """Sign the claims with the space's key; returns prefix + base45."""
    claims: dict[int | str, Any] = {k: v for k, v in extra.items()}
    claims.update({ISS: ident.space, SUB: subject, IAT: int(issued_at.timestamp()),
                   EXP: int(expires_at.timestamp()), CTI: token_id})
    protected = cbor2.dumps({ALG: EDDSA, KID: key_id(ident.sign_key)}, canonical=True)
    payload = cbor2.dumps(claims, canonical=True)
    sig = ident.sign(_sig_structure(protected, payload))
    raw = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, sig]))
    return prefix + b45encode(raw)


def read(text: str, prefix: str) -> Token:
    """Parse a token without trusting it; raises TokenMalformed saying what is wrong."""
    text = text.strip()
    if not text.startswith(prefix):
        raise TokenMalformed(f"not a token of this kind: it should start with {prefix!r}", field="pass")
    try:
        raw = b45decode(text[len(prefix):])
    except BadInput as e:
        raise TokenMalformed(e.message, field="pass") from None
    try:
        msg = cbor2.loads(raw)
        if isinstance(msg, cbor2.CBORTag):
            if msg.tag != COSE_SIGN1_TAG:
                raise ValueError("not a COSE_Sign1")
            msg = msg.value
        protected, _unprotected, payload, sig = msg
        header = cbor2.loads(protected)
        claims = cbor2.loads(payload)
        if header.get(ALG) != EDDSA:
            raise ValueError("not signed with EdDSA")
        iss, sub, cti = claims[ISS], claims[SUB], claims[CTI]
        iat, exp = claims[IAT], claims[EXP]
        if not (isinstance(iss, str) and isinstance(sub, str) and isinstance(cti, bytes)
                and isinstance(iat, int) and isinstance(exp, int) and isinstance(sig, bytes)):
            raise ValueError("a claim has the wrong type")
        return Token(
            issuer=iss, subject=sub, token_id=cti,
            issued_at=dt.datetime.fromtimestamp(iat, dt.UTC), expires_at=dt.datetime.fromtimestamp(exp, dt.UTC),
            extra={k: v for k, v in claims.items() if isinstance(k, str)},
            key_id=bytes(header.get(KID, b"")), protected=protected, payload=payload, signature=sig,
        )
    except (cbor2.CBORDecodeError, ValueError, TypeError, KeyError, AttributeError, OverflowError, OSError) as e:
        raise TokenMalformed(f"not a readable signed token ({e})", field="pass") from None


def check(token: Token, sign_key: bytes, now: dt.datetime) -> None:
    """Verify the signature under the issuer's key, then the validity window."""
    if not verify(sign_key, _sig_structure(token.protected, token.payload), token.signature):
        if token.key_id and token.key_id != key_id(sign_key):
            raise TokenForeign(f"signed by another key than {token.issuer}'s", field="pass")
        raise TokenForged(f"the signature does not match: the token was altered after {token.issuer} signed it",
                          field="pass")
    if now > token.expires_at + LEEWAY:
        raise TokenExpired(f"expired on {token.expires_at:%Y-%m-%d %H:%M} UTC", field="pass")
    if now < token.issued_at - LEEWAY:
        raise TokenExpired("issued in the future: check the clocks", field="pass")
