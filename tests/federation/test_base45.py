"""Base45 follows RFC 9285: its examples, its invalid inputs, and any bytes round-trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.errors import BadInput
from node.federation.base45 import b45decode, b45encode

RFC_EXAMPLES = [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0"),
                (b"", "")]


@pytest.mark.parametrize(("raw", "text"), RFC_EXAMPLES)
def test_the_rfc_examples_encode_and_decode(raw: bytes, text: str) -> None:
    """RFC 9285 §4.3 and §4.4, both ways."""
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@pytest.mark.parametrize("text", ["GGW", "a", "ABCD", "QED8WEX", "::"])
def test_invalid_text_is_refused(text: str) -> None:
    """A triple over 65535, a lower-case letter, a dangling character, a pair over 255."""
    with pytest.raises(BadInput):
        b45decode(text)


@given(st.binary(max_size=300))
def test_any_bytes_round_trip(raw: bytes) -> None:
    assert b45decode(b45encode(raw)) == raw
