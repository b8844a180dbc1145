"""Base45 (RFC 9285): bytes as text in QR's alphanumeric character set.

A QR code's alphanumeric mode packs two of its 45 characters into 11 bits, so a token in
base45 takes a smaller code than the same bytes in base64 (which needs byte mode). Written
here because the one package on PyPI has not been released since 2022; the RFC's own test
vectors pin it (tests/federation/test_base45.py).
"""

from __future__ import annotations

from typing import Final

from node.errors import BadInput

__all__ = ["ALPHABET", "b45encode", "b45decode"]

ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE: Final = {c: i for i, c in enumerate(ALPHABET)}


def b45encode(data: bytes) -> str:
    """Each pair of bytes becomes three characters, a last odd byte two (RFC 9285 §4)."""
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        e, n = divmod(n, 45 * 45)
        d, c = divmod(n, 45)
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (ALPHABET[c], ALPHABET[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """The inverse; raises BadInput on a character outside the set, a dangling character
    or a triple worth more than two bytes (the RFC says such input is invalid)."""
    try:
        values = [_VALUE[c] for c in text]
    except KeyError as e:
        raise BadInput(f"not base45: the character {e.args[0]!r} is outside its alphabet") from None
    if len(values) % 3 == 1:
        raise BadInput("not base45: its length leaves one character over")
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i:i + 3]
        n = sum(v * 45 ** k for k, v in enumerate(chunk))
        if len(chunk) == 3:
            if n > 0xFFFF:
                raise BadInput("not base45: a group of three characters is worth more than two bytes")
            out += n.to_bytes(2, "big")
        else:
            if n > 0xFF:
                raise BadInput("not base45: its last two characters are worth more than one byte")
            out.append(n)
    return bytes(out)
