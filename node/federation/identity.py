"""A space's identity: its key pairs on disk, signing, verifying, sealing and opening.

Two separate key pairs (DESIGN §4): Ed25519 signs every envelope and RPC call; X25519
seals `dm` bodies with an authenticated Box (sender's secret, recipient's public key), so
a hub operator sees subjects and sizes, never content. Key files are created once by
``hitode init`` with mode 0600 and are the space's identity: losing them means a new
space id, since peers pin the first key they see.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Final, TypeVar

import msgspec
import nacl.exceptions
import nacl.public
import nacl.signing
import nacl.utils

from node.errors import ConfigError, Rejected
from schemas.rpc import SignedCall

T = TypeVar("T", bound=msgspec.Struct)

__all__ = ["Identity", "verify", "SIGNING_FILE", "BOX_FILE", "write_secret", "read_secret", "read_token", "TOKEN_FILE",
           "sign_call", "open_call"]

SIGNING_FILE: Final = "signing.key"
BOX_FILE: Final = "box.key"
TOKEN_FILE: Final = "operator.token"


def write_secret(path: Path, data: bytes) -> None:
    """Create a secret file readable by its owner only, never widening an existing one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def read_secret(path: Path, size: int | None = None) -> bytes:
    try:
        mode = path.stat().st_mode & 0o777
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: run `hitode init` first") from None
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    if size is not None and len(data) != size:
        raise ConfigError(f"{path} should hold {size} bytes, not {len(data)}")
    return data


class Identity:
    """One space's keys. Cheap to copy around; holds no I/O after loading."""

    def __init__(
        self, space: str, signing: nacl.signing.SigningKey, box: nacl.public.PrivateKey,
        earlier_boxes: tuple[nacl.public.PrivateKey, ...] = (),
    ):
        self.space = space
        self._signing = signing
        self._box = box
        # Box keys this space rotated away from: a dm sealed by a peer that had not yet
        # applied the rotation still opens (DESIGN §4: nothing is lost to a rotation).
        self._earlier_boxes = earlier_boxes
        self.sign_key: bytes = bytes(signing.verify_key)
        self.box_key: bytes = bytes(box.public_key)

    @classmethod
    def generate(cls, space: str) -> Identity:
        return cls(space, nacl.signing.SigningKey.generate(), nacl.public.PrivateKey.generate())

    @classmethod
    def create(cls, space: str, data_dir: Path) -> Identity:
        """Write fresh key files (0600) and an operator token; refuse to overwrite keys."""
        ident = cls.generate(space)
        write_secret(data_dir / SIGNING_FILE, bytes(ident._signing))
        write_secret(data_dir / BOX_FILE, bytes(ident._box))
        token_path = data_dir / TOKEN_FILE
        if not token_path.exists():
            write_secret(token_path, secrets.token_urlsafe(32).encode() + b"\n")
        return ident

    @classmethod
    def load(cls, space: str, data_dir: Path) -> Identity:
        ident = cls.load_files(space, data_dir / SIGNING_FILE, data_dir / BOX_FILE)
        # rotation keeps the old key files as box.key.old-<time>; newest first
        old = sorted(data_dir.glob(BOX_FILE + ".old-*"), reverse=True)
        earlier = tuple(nacl.public.PrivateKey(read_secret(p, 32)) for p in old)
        return cls(space, ident._signing, ident._box, earlier)

    @classmethod
    def load_files(cls, space: str, signing_path: Path, box_path: Path) -> Identity:
        signing = nacl.signing.SigningKey(read_secret(signing_path, 32))
        box = nacl.public.PrivateKey(read_secret(box_path, 32))
        return cls(space, signing, box)

    def write_files(self, signing_path: Path, box_path: Path) -> None:
        write_secret(signing_path, bytes(self._signing))
        write_secret(box_path, bytes(self._box))

    def sign(self, data: bytes) -> bytes:
        return self._signing.sign(data).signature

    def seal(self, plaintext: bytes, recipient_box_key: bytes) -> tuple[bytes, bytes]:
        """Box `plaintext` to the recipient; returns (nonce, ciphertext)."""
        box = nacl.public.Box(self._box, nacl.public.PublicKey(recipient_box_key))
        nonce = nacl.utils.random(nacl.public.Box.NONCE_SIZE)
        return nonce, box.encrypt(plaintext, nonce).ciphertext

    def unseal(self, nonce: bytes, ciphertext: bytes, sender_box_key: bytes) -> bytes:
        """Open with the current box key, or one this space rotated away from."""
        for mine in (self._box, *self._earlier_boxes):
            try:
                # Box() itself refuses some keys (all zeros): that is the sender's fault too.
                box = nacl.public.Box(mine, nacl.public.PublicKey(sender_box_key))
                return box.decrypt(ciphertext, nonce)
            except (nacl.exceptions.CryptoError, nacl.exceptions.RuntimeError, ValueError, TypeError):
                continue
        raise Rejected("sealed body does not open with the sender's box key")


def verify(key: bytes, signed: bytes, sig: bytes) -> bool:
    """Ed25519 over the raw signed bytes; False on any failure, never raises."""
    try:
        nacl.signing.VerifyKey(key).verify(signed, sig)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return False
    return True


def read_token(data_dir: Path) -> str:
    token = read_secret(data_dir / TOKEN_FILE).decode().strip()
    if len(token) < 16:
        # An empty token would let `Authorization: Bearer ` through.
        raise ConfigError(f"{data_dir / TOKEN_FILE} holds no usable token (16 characters or more)")
    return token




_call_enc = msgspec.msgpack.Encoder()
_call_dec = msgspec.msgpack.Decoder(SignedCall)


def sign_call(ident: Identity, tag: bytes, payload: msgspec.Struct) -> bytes:
    """Sign an RPC request or presence beat; the tag keeps it from passing as a record."""
    signed = tag + _call_enc.encode(payload)
    return _call_enc.encode(SignedCall(signed=signed, sig=ident.sign(signed), key=ident.sign_key))


def open_call(data: bytes, tag: bytes, type_: type[T]) -> tuple[T, bytes]:
    """Verify and decode a signed call; returns (payload, signer key); raises Rejected."""
    try:
        call = _call_dec.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise Rejected(f"not a signed call: {e}") from None
    if not call.signed.startswith(tag) or not verify(call.key, call.signed, call.sig):
        raise Rejected("bad signature on call")
    try:
        return msgspec.msgpack.decode(call.signed[len(tag):], type=type_), call.key
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise Rejected(f"bad call payload: {e}") from None
