"""One HTTP route as a feature declares it: the OpenAPI document is generated from these,
and so is what the edge checks before the handler runs (token, content type, If-Match)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
from aiohttp import web

from node.context import Context

__all__ = ["Route", "Handler", "JSON", "ICS", "TEXT", "CSV", "PNG", "SVG"]

Handler = Callable[[Context, web.Request], Awaitable[web.StreamResponse]]
JSON: Final = "application/json"
ICS: Final = "text/calendar"
TEXT: Final = "text/plain"
CSV: Final = "text/csv"
PNG: Final = "image/png"
SVG: Final = "image/svg+xml"
# `{name}` or `{name:regex}` (aiohttp's syntax; the regex holds no braces)
_PARAM: Final = re.compile(r"\{(\w+)(?::([^{}]+))?\}")


class Route(msgspec.Struct, frozen=True, kw_only=True):
    method: str
    path: str
    handler: Handler
    summary: str
    private: bool = False  # needs the operator token even to read (writes always do)
    body: type[msgspec.Struct] | None = None  # the JSON body, checked before the handler
    query: type[msgspec.Struct] | None = None  # the query parameters it reads (others are ignored)
    status: int = 200  # the success status
    produces: str = JSON
    also_produces: tuple[str, ...] = ()  # other representations, chosen by the Accept header
    errors: tuple[int, ...] = ()  # what the handler itself may answer besides the edge's own
    if_match: bool = False  # honours If-Match (412 on a stale version)
    example: dict[str, Any] | None = None  # a request body, for the document
    creates: bool = False  # answers with a new resource whose `id` the routes under path/{id} take

    @property
    def params(self) -> list[str]:
        return [m.group(1) for m in _PARAM.finditer(self.path)]

    @property
    def param_patterns(self) -> dict[str, str]:
        return {m.group(1): m.group(2) for m in _PARAM.finditer(self.path) if m.group(2)}

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it: `{id}`, the regex said in the parameter's schema."""
        return _PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)

    @property
    def needs_token(self) -> bool:
        return self.private or self.method != "GET"

    @property
    def cacheable(self) -> bool:
        """A public read answered with an ETag, and 304 when the client has it already."""
        return self.method == "GET" and not self.private

    def statuses(self) -> list[int]:
        """Every status this route answers: its own, and the edge's for what it declares."""
        out = {self.status, *self.errors}
        if self.body is not None:
            out |= {400, 413, 415, 422}
        if self.query is not None:
            out.add(400)
        if self.params:
            out.add(404)
        if self.needs_token:
            out.add(401)
        if self.if_match:
            out.add(412)
        if self.cacheable:
            out.add(304)
        return sorted(out)
