"""One dashboard page as a feature declares it: an HTML route, its template, and its place
in the navigation; and a panel, a feature's part of the "today" page. Pages are the
operator's, behind sign-in; they are not in /openapi.json (that document is the JSON API's,
and the JSON API keeps its Bearer tokens).

Panels let a capability put what the operator should see first (RSVPs waiting, requests
to answer, a LAB theme needing a label) on the page that is open all day, without the page
that shows them naming the capability: the node gathers every feature's panels, the shell
loads and renders them in `order`, and the today page places the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from aiohttp import web

from node.context import Context

__all__ = ["Page", "PageHandler", "PageResult", "Panel", "PanelLoader"]

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
    # Commit topics (Tx.notify) after which the live parts are rendered again at once; the
    # page's feature notifies them in the transactions that change what the page shows.
    wakes: tuple[str, ...] = ()


# A panel's loader gives its template its variables; it runs on every render of the page
# that shows it, live updates included, so it reads SQLite only (never the bus or the web).
PanelLoader = Callable[[Context, web.Request], Awaitable[Mapping[str, Any]]]


class Panel(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # unique among panels: a-z, 0-9, -; the rendered section's id is "panel-<name>"
    template: str  # "<feature>/<name>.html", rendered with the shell's variables and the loader's
    load: PanelLoader
    order: int = 50  # place on the page, smallest first
    page: str = "/"  # the page that shows it: the today page, or another that places panels (/federation)
