"""Who is signed in to the dashboard: sessions made by signing in with the operator token,
and the limit on failed sign-ins.

A session is a random id in a cookie (HttpOnly, SameSite=Strict; Secure when the request
came over TLS), held in memory only: a restart signs everyone out, which for a node with one
operator costs one sign-in and keeps no secret on disk besides the token itself. Failed
sign-ins are counted per client address in a sliding window; past the limit, every attempt
from that address is refused until the window has passed, the right token included.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from typing import Final

from aiohttp import web

__all__ = ["Sessions", "SignInLimit", "COOKIE"]

COOKIE: Final = "hitode_session"


class Sessions:
    def __init__(self, token: str, *, lifetime: float = 12 * 3600) -> None:
        self._token = token
        self._lifetime = lifetime
        self._live: dict[str, tuple[float, str]] = {}  # id -> (expires, csrf token)

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.strip().encode(), self._token.encode())

    def open(self, response: web.StreamResponse, request: web.Request) -> None:
        now = time.monotonic()
        self._live = {k: v for k, v in self._live.items() if v[0] > now}
        sid = secrets.token_urlsafe(32)
        self._live[sid] = (now + self._lifetime, secrets.token_urlsafe(24))
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", secure=request.secure, path="/",
                            max_age=int(self._lifetime))

    def close(self, request: web.Request, response: web.StreamResponse) -> None:
        self._live.pop(request.cookies.get(COOKIE, ""), None)
        response.del_cookie(COOKIE, path="/")

    def csrf(self, request: web.Request) -> str | None:
        """The session's form token, or None when the request has no live session."""
        held = self._live.get(request.cookies.get(COOKIE, ""))
        if held is None or held[0] <= time.monotonic():
            return None
        return held[1]


class SignInLimit:
    def __init__(self, *, failures: int = 5, window: float = 300.0) -> None:
        self._failures = failures
        self._window = window
        self._seen: dict[str, deque[float]] = {}

    def _recent(self, who: str) -> deque[float]:
        now = time.monotonic()
        q = self._seen.setdefault(who, deque())
        while q and q[0] <= now - self._window:
            q.popleft()
        return q

    def blocked(self, who: str) -> bool:
        return len(self._recent(who)) >= self._failures

    def failed(self, who: str) -> None:
        self._recent(who).append(time.monotonic())
        if len(self._seen) > 10_000:  # bounded: forget the quietest addresses first
            for k in [k for k, v in self._seen.items() if not v][:5000]:
                del self._seen[k]
