"""How many came: attendance per event of this space over the last months, as a bar chart
drawn on the server (SVG, no script) for the today page, with its words alongside.

The numbers are the host's own: the seats confirmed on each past event (the attendee list
rsvps.py keeps; cancelled events are left out). The chart says the same in text for whoever
does not see it: a title, a description with the figures that matter, and a table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Final

from aiohttp import web

from node.context import Context
from node.events import rules as events
from node.web.i18n import Translator
from node.web.page import Panel
from node.web.shell import translator
from schemas.event import Event

__all__ = ["PANEL", "MONTHS", "chart"]

MONTHS: Final = 6
MOST: Final = 12  # bars; the newest past events
W, H, LEFT, BOTTOM, TOP = 640, 240, 36, 28, 12


def _ceiling(n: int) -> int:
    """A round top for the scale: 5, 10, 20, 50, 100, …"""
    top = 5
    while top < n:
        top = top * 2 if str(top)[0] in "15" else top * 5 // 2
    return top


def chart(past: Sequence[Event], t: Translator) -> dict[str, Any]:
    """Bars (x, y, width, height, label) over a scale from 0 to a round top, and the ticks."""
    shown = sorted(past, key=lambda e: e.start)[-MOST:]
    top = _ceiling(max([e.confirmed for e in shown] + [e.capacity or 0 for e in shown] + [1]))
    plot_w, plot_h = W - LEFT - 8, H - BOTTOM - TOP
    slot = plot_w / max(len(shown), 1)
    bars = []
    for i, e in enumerate(shown):
        x = LEFT + i * slot + slot * 0.15
        h = plot_h * e.confirmed / top
        cap = None if e.capacity is None else TOP + plot_h - plot_h * min(e.capacity, top) / top
        bars.append({"x": round(x, 1), "y": round(TOP + plot_h - h, 1), "w": round(slot * 0.7, 1), "h": round(h, 1),
                     "cap_y": None if cap is None else round(cap, 1), "n": e.confirmed, "capacity": e.capacity,
                     "title": e.title, "day": t.skeleton("Md", t.local(e.start)),
                     "date": t.date(e.start, "medium"), "mid": round(x + slot * 0.35, 1)})
    ticks = [{"v": v, "y": round(TOP + plot_h - plot_h * v / top, 1)} for v in (0, top // 2, top)]
    total = sum(e.confirmed for e in shown)
    best = max(shown, key=lambda e: e.confirmed, default=None)
    return {"bars": bars, "ticks": ticks, "w": W, "h": H, "left": LEFT, "base": TOP + plot_h, "right": W - 8,
            "label_y": H - 8, "total": total, "events": len(shown),
            "average": round(total / len(shown), 1) if shown else 0,
            "best": None if best is None else {"title": best.title, "n": best.confirmed}}


async def load(node: Context, request: web.Request) -> dict[str, Any]:
    t = translator(request)
    now = dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(days=31 * MONTHS)
    past = [e for e, _ in await events.all_events(node.store)
            if e.space == node.space and e.status != "cancelled" and since <= e.start and e.end <= now]
    return {"chart": chart(past, t), "months": MONTHS}


PANEL: Final = Panel(name="attendance", template="events/panel_attendance.html", load=load, order=60)
