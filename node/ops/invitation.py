"""An invitation to join the federation: one line an operator passes on (chat, mail, QR).

`hitode-invite:` + base64url of a MessagePack `{body, sig}`: the body names the inviter
and its signing key (the new space pins it), the hub's leaf addresses, the CA certificate,
where to redeem it, when it expires and a one-time secret. The signature, by that key over
a domain tag and the body, catches a line damaged on its way. The inviter keeps only a
hash of the secret, with the invitation's expiry, whether it was used and whether it was
revoked (table `invitations`, owner `ops`): it works once.

Also the messages of the redemption (`Redeem` in, `Admission` out), JSON over HTTP.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import secrets
import time
from typing import Annotated, Final

import msgspec

from node.errors import ConfigError, HitodeError
from node.federation.identity import Identity, verify
from schemas.ids import SpaceId

__all__ = ["PREFIX", "Invitation", "Redeem", "Admission", "Expired", "make", "encode", "decode", "secret_hash",
           "MIGRATIONS"]

PREFIX: Final = "hitode-invite:"
_TAG: Final = b"hitode/invite/v1\x00"

MIGRATIONS: Final = (
    """
    CREATE TABLE invitations (
        id TEXT PRIMARY KEY,
        secret_hash BLOB NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        used_at REAL,
        used_by TEXT
    );
    """,
    # revoked by the hub's operator before anyone used it: the join desk refuses it
    "ALTER TABLE invitations ADD COLUMN revoked_at REAL;",
)


class Expired(HitodeError):
    code = "expired"
    status = 410


class Invitation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    secret: str
    inviter: SpaceId
    sign_key: bytes  # the inviter's Ed25519 key: the new space pins it
    join: str  # where to redeem: http://host:port/join
    hub: list[str]  # the hub's leaf addresses, host:port
    ca: str  # the federation CA's certificate, PEM
    expires: float  # unix time

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires

    @property
    def expires_text(self) -> str:
        return dt.datetime.fromtimestamp(self.expires, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


class _Signed(msgspec.Struct, frozen=True, array_like=True):
    body: bytes
    sig: bytes


class Redeem(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a joining space sends: the invitation's id and secret, its id, a CSR for its server."""

    id: Annotated[str, msgspec.Meta(max_length=64)]
    secret: Annotated[str, msgspec.Meta(max_length=128)]
    space: SpaceId
    csr: Annotated[str, msgspec.Meta(max_length=8192)]


class Admission(msgspec.Struct, frozen=True, kw_only=True):
    """What the inviter answers: the joining space's certificate and its user on the hub."""

    space: SpaceId
    cert: str
    password: str
    hub: list[str]


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def make(ident: Identity, *, join: str, hub: list[str], ca: str, ttl: float) -> Invitation:
    return Invitation(
        id=secrets.token_urlsafe(9), secret=secrets.token_urlsafe(24), inviter=ident.space,
        sign_key=ident.sign_key, join=join, hub=hub, ca=ca, expires=time.time() + ttl,
    )


def encode(inv: Invitation, ident: Identity) -> str:
    body = msgspec.msgpack.encode(inv)
    raw = msgspec.msgpack.encode(_Signed(body, ident.sign(_TAG + body)))
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(line: str) -> Invitation:
    """The invitation in `line`; a ConfigError saying what is wrong with it otherwise."""
    text = "".join(line.split())  # a line wrapped by a mail program still reads
    if not text.startswith(PREFIX):
        raise ConfigError(f"not an invitation: it should start with {PREFIX!r}")
    data = text[len(PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        signed = msgspec.msgpack.decode(raw, type=_Signed)
        inv = msgspec.msgpack.decode(signed.body, type=Invitation)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise ConfigError("the invitation is damaged (copy the whole line, from `hitode-invite:` to its end)") \
            from None
    if not verify(inv.sign_key, _TAG + signed.body, signed.sig):
        raise ConfigError("the invitation is damaged: its signature does not match")
    return inv
