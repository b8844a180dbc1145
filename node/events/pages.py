"""The dashboard's "today" page: this space's events today and this week, what the rest of
the federation holds soon, and the federation's health at a glance (bus, outbox backlog,
peers online, quarantine, alerts), with every feature's panels in between."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from aiohttp import web

from node.context import Context
from node.events import rules as events
from node.events.display import of_event
from node.web.i18n import N_
from node.web.page import Page, PageResult
from node.web.shell import panels, translator

__all__ = ["PAGES"]

SOON: Final = dt.timedelta(days=30)  # how far ahead "across the federation" looks


async def today(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    now = dt.datetime.now(dt.UTC)
    day = t.local(now).date()
    start_of_day = dt.datetime.combine(day, dt.time(), t.zone)
    end_of_day, end_of_week = start_of_day + dt.timedelta(days=1), start_of_day + dt.timedelta(days=7)
    spaces = await node.directory.spaces()
    names = {s["id"]: s["name"] for s in spaces}
    live = sorted((e for e, _ in await events.all_events(node.store) if e.status != "cancelled"),
                  key=lambda e: (e.start, e.id))
    mine = [e for e in live if e.space == node.space]
    health = await node.health()
    return {
        "today": t.date(now),
        "events_today": [of_event(e, names, t) for e in mine if e.start < end_of_day and e.end > start_of_day],
        "events_week": [of_event(e, names, t) for e in mine if end_of_day <= e.start < end_of_week],
        "events_federation": [of_event(e, names, t) for e in live
                              if e.space != node.space and e.end > now and e.start < now + SOON][:20],
        "health": health,
        "peers": [names.get(p, p) for p in health["peers_online"]],
        "spaces_total": len(spaces),
        "panels": await panels(node, request),
    }


PAGES: Final = (Page(path="/", handler=today, template="events/today.html", nav=N_("Today"), order=0,
                     live=(("today-live", "events/today_live.html"),)),)
