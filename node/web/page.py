"""One dashboard page as a feature declares it: an HTML route, its template, and its place
in the navigation. Pages are the operator's, behind sign-in; they are not in /openapi.json
(that document is the JSON API's, and the JSON API keeps its Bearer tokens)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from aiohttp import web

from node.context import Context

__all__ = ["Page", "PageHandler", "PageResult"]

# A handler gives the template its variables, or answers itself (a redirect after a
# successful form post). Variables with a non-empty `errors` are rendered with status 422:
# the form again, with what was typed and an error next to each field at fault.
PageResult = Mapping[str, Any] | web.StreamResponse
PageHandler = Callable[[Context, web.Request], Awaitable[PageResult]]


class Page(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    handler: PageHandler
    template: str  # "<feature>/<name>.html", from the feature's templates folder
    method: str = "GET"
    nav: str = ""  # the navigation label (an English msgid of the catalogue); "" = not in the navigation
    order: int = 50  # place in the navigation, smallest first
    live: tuple[tuple[str, str], ...] = ()  # (element id, fragment template): sent again when changed (live.py)
