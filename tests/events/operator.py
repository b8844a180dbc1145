"""The operator at a space's dashboard over plain HTTP (no browser): signed in with the
token, reading pages and sending their forms with the session's form token, as a browser
that sends no Origin header would. The browser scenarios drive chromium instead."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp

from tests.spaces import Space

__all__ = ["Operator", "operator", "knows"]


class Operator:
    def __init__(self, space: Space, http: aiohttp.ClientSession, lang: str) -> None:
        self.space = space
        self.http = http
        self.lang = lang
        self.csrf = ""

    async def page(self, path: str, *, status: int = 200) -> str:
        async with self.http.get(self.space.url + path, headers={"Accept-Language": self.lang}) as r:
            text = await r.text()
            assert r.status == status, (r.status, text[:2000], self.space.log_tail())
        if m := re.search(r'name="csrf" value="([^"]+)"', text):
            self.csrf = m.group(1)
        return text

    async def form(self, path: str, data: Mapping[str, str], *, status: int = 303) -> tuple[str, str]:
        """Post a form; (the Location it sends the browser to, or "", the body)."""
        if not self.csrf:
            await self.page("/")
        async with self.http.post(self.space.url + path, data={**data, "csrf": self.csrf}, allow_redirects=False,
                                  headers={"Accept-Language": self.lang}) as r:
            text = await r.text()
            assert r.status == status, (r.status, text[:3000])
            return r.headers.get("Location", ""), text


@asynccontextmanager
async def operator(space: Space, lang: str = "ja") -> AsyncIterator[Operator]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(space.url + "/signin", data={"token": space.token}, allow_redirects=False) as r:
            assert r.status == 303
        yield Operator(space, http, lang)


async def knows(space: Space, other: str) -> bool:
    """Whether `space` holds `other`'s profile (its directory has it, with its keys)."""
    return any(s["id"] == other for s in (await space.get("/api/spaces"))["spaces"])
