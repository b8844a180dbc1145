"""Behind a TLS proxy (nginx, Caddy) the node still speaks plain HTTP; the session cookie
must be Secure all the same. The node believes X-Forwarded-Proto only when its config says
a trusted proxy is in front ([http] trusted_proxy, default off): anyone who reaches it
directly could send the header too."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from node.bus.embedded import EmbeddedNats
from tests.spaces import Space


def _trusting(space: Space) -> None:
    cfg = space.dir / "config.toml"
    text = cfg.read_text()
    assert "trusted_proxy = false" in text  # init writes the default out, for the operator to see
    cfg.write_text(text.replace("trusted_proxy = false", "trusted_proxy = true"))


async def _sign_in(url: str, token: str, headers: dict[str, str]) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/signin", data={"token": token}, headers=headers, allow_redirects=False) as r:
            assert r.status == 303
            return next(v for v in r.headers.getall("Set-Cookie") if v.startswith("hitode_session="))


async def test_behind_a_trusted_proxy_the_session_cookie_is_secure_and_only_then(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """kobe trusts its proxy: a sign-in forwarded as https gets a Secure cookie, one
    forwarded as http does not, and a form whose Origin is the https address is its own.
    sapporo (the default) ignores the header: no Secure cookie from a plain-HTTP request
    that merely claims https."""
    kobe = Space(tmp_path / "kobe", "kobe", nats_server.client_url)
    sapporo = Space(tmp_path / "sapporo", "sapporo", nats_server.client_url)
    _trusting(kobe)
    try:
        await kobe.start()
        await sapporo.start()
        forwarded = {"X-Forwarded-Proto": "https"}
        assert "Secure" in await _sign_in(kobe.url, kobe.token, forwarded)
        assert "Secure" not in await _sign_in(kobe.url, kobe.token, {"X-Forwarded-Proto": "http"})
        host = kobe.url.removeprefix("http://")
        assert "Secure" in await _sign_in(kobe.url, kobe.token, {**forwarded, "Origin": f"https://{host}"})
        assert "Secure" not in await _sign_in(sapporo.url, sapporo.token, forwarded)
        async with aiohttp.ClientSession() as http:  # without trust, an https Origin is another site
            async with http.post(sapporo.url + "/signin", data={"token": sapporo.token}, allow_redirects=False,
                                 headers={**forwarded, "Origin": "https://" + sapporo.url.removeprefix("http://")}) as r:
                assert r.status == 403
    finally:
        await kobe.close()
        await sapporo.close()
