"""HTTP handlers for events, RSVPs, the calendar and feed import; the route table at the end.

Handlers only translate: decode and validate the input once, call the domain rule or
query, encode the answer. Public federation data (events, calendar) needs no token;
attendee lists and writes do.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Final

import msgspec
from aiohttp import web

from node.context import Context as Node
from node.events import editing, rsvps
from node.events import rules as events
from node.events.importer import Importer
from node.federation.outbox import new_id
from node.members.rules import secret_of
from node.web.conditional import etag, if_match
from node.web.payload import decode_body, decode_query, json_response, token_ok
from node.web.route import ICS, Route
from schemas.event import EventInput, EventPatch, RsvpInput
from schemas.text import URL

__all__ = ["ROUTES", "FeedInput"]


def filters(node: Node, request: web.Request) -> events.Filters:
    """The listing's filters; parameters it does not know (utm_source=…) are ignored."""
    return decode_query(request, events.Filters).in_zone(zoneinfo.ZoneInfo(node.config.space.tz))


def authorized(node: Node, request: web.Request) -> bool:
    return token_ok(node.token, request)


async def list_events(node: Node, request: web.Request) -> web.Response:
    response = json_response(await events.listing(node.store, filters(node, request)))
    if (changed := await events.last_changed(node.store)) is not None:
        response.last_modified = changed
    return response


async def post_event(node: Node, request: web.Request) -> web.Response:
    inp = await decode_body(request, EventInput)
    event = events.create(node.space, inp, new_id())
    await node.store.transact(lambda tx: events.save(tx, node.ident, event, 1))
    return json_response(events.view(event, 1), status=201)


async def get_event(node: Node, request: web.Request) -> web.Response:
    event, version = await events.find(node.store, request.match_info["id"], prefer=node.space)
    out = events.view(event, version)
    everything = await events.all_events(node.store)
    jid = events.joint_ids(everything).get(event.id, "")
    if jid:
        (entry,) = events.group(events.select(everything, events.Filters(joint=jid)))
        out["joint_id"], out["parts"] = jid, entry["parts"]
    if authorized(node, request):
        out["rsvps"] = await rsvps.mine(node.store, node.space, secret=secret_of(node.data_dir), event_id=event.id)
        if event.space == node.space:
            out["attendees"] = await rsvps.attendees(node.store, event.id)
    return json_response(out, headers={"ETag": etag(version)})


async def patch_event(node: Node, request: web.Request) -> web.Response:
    p = await decode_body(request, EventPatch)
    await editing.edit(node.store, node.ident, request.match_info["id"], p, expect=if_match(request))
    new, version = await events.find(node.store, request.match_info["id"], prefer=node.space)
    return json_response(events.view(new, version), headers={"ETag": etag(version)})


async def cancel_event(node: Node, request: web.Request) -> web.Response:
    await editing.cancel(node.store, node.ident, request.match_info["id"])
    return json_response(events.view(*await events.find(node.store, request.match_info["id"], prefer=node.space)))


async def post_rsvp(node: Node, request: web.Request) -> web.Response:
    inp = await decode_body(request, RsvpInput)
    out = await rsvps.request(node.store, node.ident, secret_of(node.data_dir), request.match_info["id"], inp)
    return json_response(out, status=202)


async def list_rsvps(node: Node, request: web.Request) -> web.Response:
    return json_response({"rsvps": await rsvps.mine(node.store, node.space, secret=secret_of(node.data_dir))})


def _ics(body: bytes, name: str) -> web.Response:
    # Calendar apps poll; five minutes of caching costs a subscriber little freshness.
    return web.Response(
        body=body, content_type="text/calendar", charset="utf-8",
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "public, max-age=300"},
    )


async def _names(node: Node) -> dict[str, str]:
    return {s["id"]: s["name"] for s in await node.directory.spaces()}


async def calendar_ics(node: Node, request: web.Request) -> web.Response:
    from node.events.calendar import render  # icalendar loads at the first .ics asked for

    everything = await events.all_events(node.store)
    chosen = events.select(everything, filters(node, request))
    jids = events.joint_ids(everything)
    # the calendar folds parts by joint id; the lead part may not carry its own
    chosen = [(msgspec.structs.replace(e, joint_id=jids[e.id]), v) for e, v in chosen]
    changed = await events.last_changed(node.store)
    # DTSTAMP from the data, not the clock: the same calendar is the same bytes (ETag, 304)
    body = render(chosen, calendar_name=f"hitode — {node.config.space.name}", space_names=await _names(node),
                  stamp=_stamp(changed))
    response = _ics(body, "hitode.ics")
    if changed is not None:
        response.last_modified = changed
    return response


def _stamp(changed: float | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(changed or 0, dt.UTC)


async def get_event_ics(node: Node, request: web.Request) -> web.Response:
    from node.events.calendar import render, render_one

    event, version = await events.find(node.store, request.match_info["id"], prefer=node.space)
    everything = await events.all_events(node.store)
    jids = events.joint_ids(everything)
    jid = jids.get(event.id, "")
    if jid:  # the same one VEVENT (and UID) as in the calendar feed
        parts = [(msgspec.structs.replace(e, joint_id=jid), v) for e, v in everything if jids[e.id] == jid]
        body = render(parts, calendar_name=event.title, space_names=await _names(node),
                      stamp=_stamp(await events.last_changed(node.store)))
    else:
        body = render_one(event, version, space_names=await _names(node), stamp=_stamp(await events.last_changed(node.store)))
    return _ics(body, f"{event.id}.ics")


class FeedInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/feeds: an .ics URL this space already publishes its events to."""

    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000, pattern=URL)]


async def list_feeds(node: Node, request: web.Request) -> web.Response:
    return json_response({"feeds": await node.part(Importer).listing()})


async def post_feed(node: Node, request: web.Request) -> web.Response:
    inp = await decode_body(request, FeedInput)
    return json_response(await node.part(Importer).add(inp.url), status=201)


async def poll_feeds(node: Node, request: web.Request) -> web.Response:
    return json_response({"feeds": await node.part(Importer).poll_all()})


# Record ids (schemas/ids.py RecordId) in paths; the plain `{id}` route must not take what
# ends in ".ics" (that is the iCalendar route), said without a lookahead so that every
# client's regex engine and every fuzzer reads it the same.
_C: Final = "[A-Za-z0-9._:-]"
ANY_ID: Final = f"{_C}+"
NOT_ICS: Final = (f"({_C}{_C}?{_C}?|{_C}*([A-Za-z0-9_:-]{_C}{_C}{_C}|{_C}[A-Za-hj-z0-9._:-]{_C}{_C}"
                  f"|{_C}{_C}[A-Zabd-z0-9._:-]{_C}|{_C}{_C}{_C}[A-Za-rt-z0-9._:-]))")

_EVENT_EXAMPLE: Final = {
    "title": "同時開催Jelly / Joint Jelly", "start": "2026-12-11T13:00:00+09:00", "end": "2026-12-11T17:00:00+09:00",
    "capacity": 12, "tags": ["jelly"], "place": {"mode": "hybrid", "room": "2F", "url": "https://meet.example.jp/jelly"},
}

ROUTES: Final = (
    Route(method="GET", path="/api/events", handler=list_events, query=events.Filters,
          summary="Federated events (filters: from, to, space, tag, joint, status; paging: limit, offset)"),
    Route(method="POST", path="/api/events", handler=post_event, summary="Create an event of this space",
          body=EventInput, status=201, example=_EVENT_EXAMPLE, creates=True),
    Route(method="GET", path=f"/api/events/{{id:{ANY_ID}}}.ics", handler=get_event_ics, summary="One event as iCalendar", produces=ICS),
    Route(method="GET", path=f"/api/events/{{id:{NOT_ICS}}}", handler=get_event,
          summary="One event, its parts; with the token, RSVPs and attendees (ETag: its version)"),
    Route(method="PATCH", path=f"/api/events/{{id:{NOT_ICS}}}", handler=patch_event, summary="Edit an event of this space",
          body=EventPatch, if_match=True, errors=(403, 409), example={"capacity": 20}),
    Route(method="POST", path=f"/api/events/{{id:{ANY_ID}}}/cancel", handler=cancel_event, summary="Cancel an event of this space",
          errors=(403, 409)),
    Route(method="POST", path=f"/api/events/{{id:{ANY_ID}}}/rsvps", handler=post_rsvp, summary="Sign up (or cancel) a member of this space",
          body=RsvpInput, status=202, errors=(409,), example={"member": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}),
    Route(method="GET", path="/api/rsvps", handler=list_rsvps, summary="This space's members' RSVPs and their status", private=True),
    Route(method="GET", path="/calendar.ics", handler=calendar_ics, query=events.Filters, produces=ICS,
          summary="The federated calendar (RFC 5545); the same filters as /api/events"),
    Route(method="GET", path="/api/feeds", handler=list_feeds, summary="Calendar feeds this space imports", private=True),
    Route(method="POST", path="/api/feeds", handler=post_feed, summary="Import an .ics feed into this space's events",
          body=FeedInput, status=201, example={"url": "https://calendar.example.jp/kobe.ics"}),
    Route(method="POST", path="/api/feeds/poll", handler=poll_feeds, summary="Poll every feed now"),
)
