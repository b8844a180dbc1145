"""A signed token is a COSE_Sign1 over CWT claims that an independent implementation (the
`cwt` package) verifies, and that this node refuses when altered, foreign or expired."""

from __future__ import annotations

import datetime as dt

import cwt
import pytest

from node.errors import BadInput
from node.federation.base45 import b45decode
from node.federation.identity import Identity
from node.federation.signed_token import (
    TokenExpired, TokenForeign, TokenForged, TokenMalformed, check, issue, key_id, read,
)
from node.web.qr import MAX_VERSION, render

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
KOBE = Identity.generate("kobe")


def _token(ident: Identity = KOBE, *, days: int = 30, name: str = "山田 花子") -> str:
    return issue(ident, "HV1:", subject="m-0123456789abcdef01234567", token_id=bytes(range(8)),
                 issued_at=NOW, expires_at=NOW + dt.timedelta(days=days),
                 extra={"tier": "standard", "idx": 41, "name": name})


def _cose_key(public: bytes, kid: bytes) -> cwt.COSEKey:
    """An Ed25519 public key as RFC 9053 writes it: kty OKP, crv Ed25519, alg EdDSA."""
    return cwt.COSEKey.new({1: 1, 2: kid, 3: -8, -1: 6, -2: public})


def test_the_cwt_package_verifies_a_token_and_reads_its_claims() -> None:
    """Another COSE implementation checks the Ed25519 signature and sees the same claims."""
    text = _token()
    claims = cwt.decode(b45decode(text[4:]), keys=[_cose_key(KOBE.sign_key, key_id(KOBE.sign_key))])
    assert claims[1] == "kobe" and claims[2] == "m-0123456789abcdef01234567"
    assert claims[7] == bytes(range(8)) and claims[4] == int((NOW + dt.timedelta(days=30)).timestamp())
    assert claims["idx"] == 41 and claims["name"] == "山田 花子"


def test_the_cwt_package_refuses_a_token_under_another_key() -> None:
    other = Identity.generate("kobe")
    key = _cose_key(other.sign_key, key_id(KOBE.sign_key))  # the right kid, the wrong key
    with pytest.raises(cwt.VerifyError):
        cwt.decode(b45decode(_token()[4:]), keys=[key])


def test_a_token_reads_back_and_checks_under_its_issuers_key() -> None:
    tok = read(_token(), "HV1:")
    check(tok, KOBE.sign_key, NOW)
    assert (tok.issuer, tok.subject, tok.token_id) == ("kobe", "m-0123456789abcdef01234567", bytes(range(8)))
    assert tok.extra == {"tier": "standard", "idx": 41, "name": "山田 花子"}
    assert tok.expires_at == NOW + dt.timedelta(days=30)


def test_one_altered_character_is_refused_as_tampered() -> None:
    """A character changed anywhere after the prefix: unreadable, or a signature that fails."""
    text = _token()
    refused = 0
    for i in range(4, len(text), 7):
        c = "A" if text[i] != "A" else "B"
        try:
            check(read(text[:i] + c + text[i + 1:], "HV1:"), KOBE.sign_key, NOW)
        except (TokenForged, TokenMalformed, TokenForeign):
            refused += 1
    assert refused == len(range(4, len(text), 7))


def test_a_token_signed_by_another_key_is_refused_as_foreign() -> None:
    impostor = Identity.generate("kobe")  # claims to be kobe, with its own key
    with pytest.raises(TokenForeign) as e:
        check(read(_token(impostor), "HV1:"), KOBE.sign_key, NOW)
    assert e.value.code == "token_foreign" and e.value.status == 422


def test_an_expired_token_is_refused() -> None:
    tok = read(_token(days=1), "HV1:")
    with pytest.raises(TokenExpired):
        check(tok, KOBE.sign_key, NOW + dt.timedelta(days=2))


@pytest.mark.parametrize("text", ["HC1:6BFOXN", "HV1:", "HV1:abc", "hello", "HV1:" + "0" * 30])
def test_garbage_is_refused_as_malformed(text: str) -> None:
    with pytest.raises(BadInput) as e:
        read(text, "HV1:")
    assert e.value.field == "pass"


@pytest.mark.parametrize(("space", "name"), [("a" * 16, "山田花子工房"), ("a" * 32, "")])
def test_a_token_fits_a_qr_code_of_version_ten_at_m(space: str, name: str) -> None:
    """A 16-character space id with an 6-character Japanese name (18 bytes) and a pass index past 65535, or the
    longest space id (32) with no name: both stay within version 10 at M."""
    extra: dict[str, object] = {"tier": "standard", "idx": 99999}
    if name:
        extra["name"] = name
    text = issue(Identity.generate(space), "HV1:", subject="m-0123456789abcdef01234567", token_id=bytes(8),
                 issued_at=NOW, expires_at=NOW, extra=extra)
    code = render(text)
    assert code.version <= MAX_VERSION
    assert code.png.startswith(b"\x89PNG") and code.svg.startswith("<svg")


def test_a_text_too_long_for_version_ten_is_refused() -> None:
    with pytest.raises(BadInput) as e:
        render("HV1:" + "A" * 400)
    assert e.value.status == 422 and "version" in e.value.message
