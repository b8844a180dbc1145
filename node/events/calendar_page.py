"""The federated calendar on the dashboard: a month view and a list view, filtered by space
and tag, a joint event shown once with its parts, and the .ics link to subscribe to the
same selection. Both views are live: an event arriving from another space appears on the
open page without a reload (node/web/live.py runs this handler again for the stream).
"""

from __future__ import annotations

import calendar as cal
import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from node.context import Context
from node.events import rules as events
from node.events.display import of_entry
from node.federation.outbox import OUTBOX
from node.federation.replica import APPLIED
from node.members import rules as members
from node.web.i18n import N_, Translator
from node.web.page import Page, PageResult
from node.web.shell import translator

__all__ = ["PAGES", "filters_of", "space_names"]

LIST_DAYS: Final = 90  # how far ahead the list view reads
LIST_LIMIT: Final = 200


@functools.cache
def _first_weekday() -> int:
    """Weeks start as on the calendars on a Japanese wall (CLDR's JP: Sunday), in either
    language, so that switching language never moves the columns under the operator's eyes.
    Read at the first calendar shown: CLDR's ja_JP data is some 4 MiB an idle node need not hold."""
    from babel import Locale

    return int(Locale.parse("ja_JP").first_week_day)


async def space_names(node: Context) -> dict[str, str]:
    return {s["id"]: s["name"] for s in await node.directory.spaces()}


def filters_of(request: web.Request, names: dict[str, str], tags: Sequence[str]) -> dict[str, str]:
    """The space and tag filters the query asks for; what names nothing known is dropped."""
    space, tag = request.query.get("space", ""), request.query.get("tag", "")
    return {"space": space if space in names else "", "tag": tag if tag in tags else ""}


def _month(request: web.Request, t: Translator) -> dt.date:
    try:
        return dt.datetime.strptime(request.query.get("month", ""), "%Y-%m").date()
    except ValueError:
        return t.local(dt.datetime.now(dt.UTC)).date().replace(day=1)


def _shift(month: dt.date, by: int) -> dt.date:
    n = month.year * 12 + month.month - 1 + by
    return dt.date(n // 12, n % 12 + 1, 1)


def _weeks(month: dt.date, entries: list[dict[str, Any]], t: Translator) -> list[list[dict[str, Any]]]:
    """The month's weeks from the first day of the week; each day with its events
    (an event spanning days is on each of them)."""
    today = t.local(dt.datetime.now(dt.UTC)).date()
    weeks = cal.Calendar(firstweekday=_first_weekday()).monthdatescalendar(month.year, month.month)
    out = []
    for week in weeks:
        row = []
        for day in week:
            on = [e for e in entries if e["date"] <= day <= t.local(e["end_at"] - dt.timedelta(seconds=1)).date()]
            row.append({"date": day, "n": day.day, "in_month": day.month == month.month, "today": day == today,
                        "label": t.date(day, "full"), "events": on})
        out.append(row)
    return out


def _weekday_names(t: Translator) -> list[tuple[str, str]]:
    """(short, full) names in the order the month's columns take."""
    days = t.locale.days["format"]
    order = [(_first_weekday() + i) % 7 for i in range(7)]
    return [(days["abbreviated"][d], days["wide"][d]) for d in order]


async def _selection(node: Context, request: web.Request, t: Translator, start: dt.datetime,
                     end: dt.datetime) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    everything = await events.all_events(node.store)
    names = await space_names(node)
    tags = sorted({tag for e, _ in everything for tag in e.tags})
    chosen = filters_of(request, names, tags)
    f = events.Filters(start=start, to=end, space=chosen["space"] or None, tag=chosen["tag"] or None, limit=500)
    entries = [of_entry(x, names, t) for x in events.group(events.select(everything, f))]
    ics = "/calendar.ics" + ("?" + urlencode({k: v for k, v in chosen.items() if v}) if any(chosen.values()) else "")
    query = urlencode({k: v for k, v in chosen.items() if v})
    return entries, {"spaces": sorted(names.items(), key=lambda kv: (kv[0] != node.space, kv[1])), "tags": tags,
                     "chosen": chosen, "filter_query": query, "ics_url": f"{request.url.origin()}{ics}"}


async def month_view(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    month = _month(request, t)
    first = dt.datetime.combine(month, dt.time(), t.zone)
    after = dt.datetime.combine(_shift(month, 1), dt.time(), t.zone)
    entries, common = await _selection(node, request, t, first - dt.timedelta(days=7), after + dt.timedelta(days=7))
    keep = "&" + common["filter_query"] if common["filter_query"] else ""
    return {**common, "view": "month", "month_label": t.skeleton("yMMMM", month),
            "month": month.strftime("%Y-%m"), "weeks": _weeks(month, entries, t), "weekdays": _weekday_names(t),
            "prev": f"/calendar?month={_shift(month, -1):%Y-%m}{keep}", "next": f"/calendar?month={_shift(month, 1):%Y-%m}{keep}",
            "live_url": "/live/calendar?" + urlencode({"month": f"{month:%Y-%m}", **{k: v for k, v in common["chosen"].items() if v}}),
            "count": sum(1 for e in entries if first <= e["start_at"] < after)}


async def list_view(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    today = dt.datetime.combine(t.local(dt.datetime.now(dt.UTC)).date(), dt.time(), t.zone)
    entries, common = await _selection(node, request, t, today, today + dt.timedelta(days=LIST_DAYS))
    days: dict[dt.date, list[dict[str, Any]]] = {}
    for e in entries[:LIST_LIMIT]:
        days.setdefault(e["date"], []).append(e)
    return {**common, "view": "list", "days": [(t.date(d, "full"), d.isoformat(), es) for d, es in sorted(days.items())],
            "live_url": "/live/calendar/list" + ("?" + common["filter_query"] if common["filter_query"] else ""),
            "count": len(entries)}


_LIVE: Final = (("calendar-live", "events/calendar_live.html"),)
# What the calendar shows changes with records: ours written (outbox), peers' applied.
WAKES: Final = (APPLIED, OUTBOX, members.CHANGED)

PAGES: Final = (
    Page(path="/calendar", handler=month_view, template="events/calendar.html", nav=N_("Calendar"), order=5, live=_LIVE,
         wakes=WAKES),
    Page(path="/calendar/list", handler=list_view, template="events/calendar.html", live=_LIVE, wakes=WAKES),
)
