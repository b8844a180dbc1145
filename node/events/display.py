"""How an event reads on the operator's pages: times in the space's zone formatted for the
request's language, the host space by name, a joint event as one entry with its parts.

The listing rules (rules.py) give builtins for the JSON API; this turns the same entries,
or a single `Event`, into what a template shows, so every page says a time the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from node.web.i18n import Translator
from schemas.event import Event

__all__ = ["of_event", "of_entry", "when"]


def _time(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def when(start: dt.datetime, end: dt.datetime, t: Translator) -> dict[str, str]:
    """Day, start and end as the operator reads them; the end carries its day if it differs."""
    same_day = t.local(start).date() == t.local(end).date()
    return {"day": t.date(start, "medium"), "start": t.time(start),
            "end": t.time(end) if same_day else t.datetime(end, "short"), "iso": start.isoformat()}


def _common(x: Mapping[str, Any], names: Mapping[str, str], t: Translator) -> dict[str, Any]:
    start, end = _time(x["start"]), _time(x["end"])
    place = x.get("place") or {}
    return {"id": x["id"], "title": x["title"], "space_id": x["space"], "space": names.get(x["space"], x["space"]),
            **when(start, end, t), "start_at": start, "end_at": end, "date": t.local(start).date(),
            "where": place.get("room", ""), "url": place.get("url", ""), "mode": place.get("mode", "onsite"),
            "status": x.get("status", "scheduled"), "cancelled": x.get("status") == "cancelled",
            "tags": list(x.get("tags", [])), "capacity": x.get("capacity"), "confirmed": x.get("confirmed", 0),
            "waitlisted": x.get("waitlisted", 0), "description": x.get("description", "")}


def of_entry(x: Mapping[str, Any], names: Mapping[str, str], t: Translator) -> dict[str, Any]:
    """A grouped listing entry (rules.group): a joint event keeps its parts, each shown."""
    out = _common(x, names, t)
    out["joint"] = bool(x.get("joint"))
    out["parts"] = [_common(p, names, t) for p in x.get("parts", [])]
    return out


def of_event(e: Event, names: Mapping[str, str], t: Translator) -> dict[str, Any]:
    out = _common({"id": e.id, "title": e.title, "space": e.space, "start": e.start, "end": e.end,
                   "place": {"room": e.place.room, "url": e.place.url, "mode": e.place.mode}, "status": e.status,
                   "tags": e.tags, "capacity": e.capacity, "confirmed": e.confirmed, "waitlisted": e.waitlisted,
                   "description": e.description}, names, t)
    out["joint"], out["parts"] = False, []
    return out
