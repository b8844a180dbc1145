"""One HTTP route as a feature declares it: the OpenAPI document is generated from these."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from node.context import Context

__all__ = ["Route", "Handler"]

Handler = Callable[[Context, web.Request], Awaitable[web.StreamResponse]]


class Route(msgspec.Struct, frozen=True):
    method: str
    path: str
    handler: Handler
    summary: str
    private: bool = False  # needs the operator token even to read
    body: type[msgspec.Struct] | None = None
