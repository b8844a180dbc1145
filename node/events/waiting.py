"""The "RSVPs waiting" panel of the today page: what the operator should know about sign-ups
before anything else.

The host decides each RSVP by itself when it arrives (a seat if one is free, else the
waitlist; rsvps.py), so what waits is people, not a button: sign-ups to this space's coming
events (newest first, so a new one is seen at once), who is on a waitlist, and this space's
own members whose sign-up at another space has no answer yet.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from aiohttp import web

from node.context import Context
from node.events import rsvps
from node.events import rules as events
from node.members import rules as members
from node.members.rules import secret_of
from node.web.page import Panel
from node.web.shell import translator

__all__ = ["PANEL", "load"]

RECENT: Final = 12  # sign-ups listed; the event page has the whole list


async def load(node: Context, request: web.Request) -> dict[str, Any]:
    t = translator(request)
    now = dt.datetime.now(dt.UTC)
    everything = await events.all_events(node.store)
    ours = {e.id: e for e, _ in everything if e.space == node.space and e.status != "cancelled" and e.end > now}
    titles = {e.id: e.title for e, _ in everything}
    names = {s["id"]: s["name"] for s in await node.directory.spaces()}
    rows = await node.store.all(
        "SELECT event_id, space, display_name, member, status, updated_at FROM attendees"
        " WHERE status IN ('confirmed', 'waitlisted') ORDER BY updated_at DESC, position")
    people = await members.listing(node.store)
    secret = secret_of(node.data_dir)
    local = {members.federation_id(secret, m["id"]): m["name"] for m in people}
    signups = []
    for r in rows:
        if r["event_id"] not in ours:
            continue
        who = local.get(r["member"]) if r["space"] == node.space else r["display_name"]
        signups.append({"event_id": r["event_id"], "event": titles[r["event_id"]], "who": who or "",
                        "space": names.get(r["space"], r["space"]), "status": r["status"],
                        "when": t.datetime(dt.datetime.fromtimestamp(r["updated_at"], dt.UTC), "short")})
    waitlist = sum(1 for s in signups if s["status"] == "waitlisted")
    by_id = {m["id"]: m["name"] for m in people}
    unanswered = [
        {"event_id": r["event_id"], "event": titles.get(r["event_id"], r["event_id"]),
         "who": by_id.get(r["member"], ""), "space": names.get(r["host"], r["host"])}
        for r in await rsvps.mine(node.store, node.space, secret=secret)
        if r["host"] != node.space and r["status"] == "requested"
    ]
    return {"signups": signups[:RECENT], "more": max(0, len(signups) - RECENT), "waitlist": waitlist,
            "unanswered": unanswered}


PANEL: Final = Panel(name="rsvps", template="events/panel_rsvps.html", load=load, order=10)
