"""Conditional requests (RFC 9110 §13): versions as ETags, If-Match on writes, 304 on reads.

A record's ETag is its version (`"v3"`): PUT/PATCH with If-Match of a version that is no
longer current change nothing (412). A public read without its own ETag gets one from its
body, and a client that names it in If-None-Match gets 304 (calendar apps poll).
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from aiohttp import web

from node.errors import PreconditionFailed

__all__ = ["etag", "if_match", "not_modified"]

_VERSION: Final = re.compile(r'^\s*"v(\d+)"\s*$')


def etag(version: int) -> str:
    return f'"v{version}"'


def if_match(request: web.Request) -> int | None:
    """The version If-Match names; None when it is absent or `*`."""
    given = request.headers.get("If-Match", "").strip()
    if given in ("", "*"):
        return None
    m = _VERSION.match(given)
    if m is None:
        raise PreconditionFailed('If-Match must be the ETag a GET gave, like "v3"', field="If-Match")
    return int(m.group(1))


def not_modified(request: web.Request, response: web.Response) -> web.Response:
    """ETag and Cache-Control on a public read; 304 when If-None-Match names it.

    A handler that sets its own ETag (a record's version, for If-Match) answers in full:
    its body may hold live parts (online, RSVPs) the version does not cover.
    """
    response.headers.setdefault("Cache-Control", "no-cache")
    response.headers["Vary"] = "Authorization"  # some reads show more with the token
    if "ETag" in response.headers or not isinstance(response.body, bytes):
        return response
    tag = '"' + hashlib.sha256(response.body).hexdigest()[:32] + '"'
    response.headers["ETag"] = tag
    wanted = [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]
    if tag in wanted or "*" in wanted or f"W/{tag}" in wanted:
        keep = {k: v for k, v in response.headers.items() if k in ("ETag", "Cache-Control", "Last-Modified")}
        return web.Response(status=304, headers=keep)
    return response
