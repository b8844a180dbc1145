"""The "requests" panel of the today page: what asks for the operator's answer today.

Open requests from other spaces that this space's members fit (with how many fit, found
through the skill indexes), requests another space referred to this one, and this space's
own open requests with the offers they have received.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from aiohttp import web

from node.context import Context
from node.members import skills
from node.requests import book, matching
from node.web.page import Panel
from node.web.shell import translator
from schemas.request import RequestFilters

__all__ = ["PANEL", "load"]

SHOWN: Final = 8  # per list; the requests page has the rest


async def load(node: Context, request: web.Request) -> dict[str, Any]:
    t = translator(request)
    now = dt.datetime.now(dt.UTC)
    synonyms = await skills.load(node.store)
    live = [*await book.listing(node.store, RequestFilters(status="open", limit=500), now, synonyms),
            *await book.listing(node.store, RequestFilters(status="matched", limit=500), now, synonyms)]
    live.sort(key=lambda r: r["deadline"])
    counts = await matching.match_counts(node.store, [r["id"] for r in live])
    referred = {str(r[0]) for r in await node.store.all("SELECT DISTINCT request_id FROM request_referrals")}
    offers = {str(r[0]): int(r[1]) for r in await node.store.all(
        "SELECT request_id, count(*) FROM request_offers GROUP BY request_id")}
    names = {s["id"]: s["name"] for s in await node.directory.spaces()}

    def item(r: dict[str, Any]) -> dict[str, Any]:
        return {"id": r["id"], "title": r["title"], "space": names.get(r["space"], r["space"]),
                "until": t.datetime(dt.datetime.fromisoformat(r["deadline"]), "short"),
                "matches": counts.get(r["id"], 0), "offers": offers.get(r["id"], 0)}

    others = [r for r in live if r["space"] != node.space]
    return {
        "fitting": [item(r) for r in others if counts.get(r["id"]) and r["id"] not in referred][:SHOWN],
        "referred": [item(r) for r in others if r["id"] in referred][:SHOWN],
        "ours": [item(r) for r in live if r["space"] == node.space][:SHOWN],
    }


PANEL: Final = Panel(name="requests", template="requests/panel.html", load=load, order=20)
