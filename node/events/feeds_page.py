"""The feeds a space imports its events from, on the dashboard: the list with each feed's
last result (when it was read, how many events it held, or what went wrong), a form to
add one (it is read at once: a feed that does not work is refused, said next to the
field), and a button to read them all now instead of waiting for the next round."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from aiohttp import web

from node.context import Context
from node.errors import BadInput
from node.events.importer import Importer
from node.web.i18n import Translator
from node.web.page import Page, PageResult
from node.web.shell import translator

__all__ = ["PAGES"]

_COUNTS: Final = ("created", "updated", "cancelled")


def _feeds(rows: list[dict[str, Any]], t: Translator) -> list[dict[str, Any]]:
    return [{"url": r["url"], "error": r["error"], "imported": r["imported"],
             "polled": t.datetime(dt.datetime.fromtimestamp(r["polled_at"], dt.UTC), "short") if r["polled_at"] else ""}
            for r in rows]


async def _page(node: Context, t: Translator, **kw: Any) -> dict[str, Any]:
    return {"feeds": _feeds(await node.part(Importer).listing(), t), "values": {"url": ""}, "errors": {},
            "added": "", "polled": None, **kw}


async def feeds(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    q = request.query
    polled = {k: int(q[k]) for k in _COUNTS if q.get(k, "").isdigit()} if "polled" in q else None
    return await _page(node, t, added=q.get("added", ""), polled=polled)


async def add(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    url = str((await request.post()).get("url", "")).strip()
    try:
        if not url:
            raise BadInput("no URL", field="url")
        await node.part(Importer).add(url)
    except BadInput as e:
        why = e.message if url else ""
        message = t.gettext("Give the http(s) address of an .ics calendar that answers now.")
        return await _page(node, t, values={"url": url}, errors={"url": f"{message} {why}".strip()})
    raise web.HTTPSeeOther("/calendar/feeds?added=1")


async def poll(node: Context, request: web.Request) -> PageResult:
    results = await node.part(Importer).poll_all()
    totals = {k: sum(int(r.get(k, 0)) for r in results) for k in _COUNTS}
    raise web.HTTPSeeOther("/calendar/feeds?polled=1&" + "&".join(f"{k}={v}" for k, v in totals.items()))


PAGES: Final = (
    Page(path="/calendar/feeds", handler=feeds, template="events/feeds.html"),
    Page(path="/calendar/feeds", method="POST", handler=add, template="events/feeds.html"),
    Page(path="/calendar/feeds/poll", method="POST", handler=poll, template="events/feeds.html"),
)
