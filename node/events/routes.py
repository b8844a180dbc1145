"""HTTP handlers for events, RSVPs, the calendar and feed import; the route table at the end.

Handlers only translate: decode and validate the input once, call the domain rule or
query, encode the answer. Public federation data (events, calendar) needs no token;
attendee lists and writes do.
"""

from __future__ import annotations

import zoneinfo
from typing import Final

import msgspec
from aiohttp import web

from node.context import Context as Node
from node.errors import Forbidden, bad_input_from
from node.events import rsvps
from node.events import rules as events
from node.events.calendar import render, render_one
from node.events.importer import Importer
from node.federation.outbox import new_id
from node.members.rules import secret_of
from node.store import Tx
from node.web.payload import decode_body, json_response, token_ok
from node.web.route import Route
from schemas.event import EventInput, EventPatch, RsvpInput

__all__ = ["ROUTES", "FeedInput"]


def filters(node: Node, request: web.Request) -> events.Filters:
    try:
        chosen = msgspec.convert(dict(request.query), events.Filters, strict=False)
    except msgspec.ValidationError as e:
        raise bad_input_from(e) from None
    return chosen.in_zone(zoneinfo.ZoneInfo(node.config.space.tz))


def authorized(node: Node, request: web.Request) -> bool:
    return token_ok(node.token, request)


async def list_events(node: Node, request: web.Request) -> web.Response:
    return json_response(await events.listing(node.store, filters(node, request)))


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
    return json_response(out)


def _own(node: Node, event_space: str) -> None:
    if event_space != node.space:
        raise Forbidden(f"only {event_space} edits its events", field="id")


async def patch_event(node: Node, request: web.Request) -> web.Response:
    p = await decode_body(request, EventPatch)
    event, _ = await events.find(node.store, request.match_info["id"], prefer=node.space)
    _own(node, event.space)

    def unit(tx: Tx) -> None:
        held = events.find_in(tx, node.space, event.id)
        assert held is not None
        new = events.patch(held[0], p)
        if new != held[0]:
            events.save(tx, node.ident, new, held[1] + 1)
            if new.capacity != held[0].capacity:
                rsvps.after_capacity_change(tx, node.ident, new, held[1] + 1)

    await node.store.transact(unit)
    return json_response(events.view(*await events.find(node.store, event.id)))


async def cancel_event(node: Node, request: web.Request) -> web.Response:
    event, _ = await events.find(node.store, request.match_info["id"], prefer=node.space)
    _own(node, event.space)

    def unit(tx: Tx) -> None:
        held = events.find_in(tx, node.space, event.id)
        assert held is not None
        rsvps.cancel_event(tx, node.ident, held[0], held[1])

    await node.store.transact(unit)
    return json_response(events.view(*await events.find(node.store, event.id, prefer=node.space)))


async def post_rsvp(node: Node, request: web.Request) -> web.Response:
    inp = await decode_body(request, RsvpInput)
    out = await rsvps.request(node.store, node.ident, secret_of(node.data_dir), request.match_info["id"], inp)
    return json_response(out, status=202)


async def list_rsvps(node: Node, request: web.Request) -> web.Response:
    return json_response({"rsvps": await rsvps.mine(node.store, node.space, secret=secret_of(node.data_dir))})


def _ics(body: bytes, name: str) -> web.Response:
    return web.Response(
        body=body, content_type="text/calendar", charset="utf-8",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


async def _names(node: Node) -> dict[str, str]:
    return {s["id"]: s["name"] for s in await node.directory.spaces()}


async def calendar_ics(node: Node, request: web.Request) -> web.Response:
    everything = await events.all_events(node.store)
    chosen = events.select(everything, filters(node, request))
    jids = events.joint_ids(everything)
    # the calendar folds parts by joint id; the lead part may not carry its own
    chosen = [(msgspec.structs.replace(e, joint_id=jids[e.id]), v) for e, v in chosen]
    body = render(chosen, calendar_name=f"hitode — {node.config.space.name}", space_names=await _names(node))
    return _ics(body, "hitode.ics")


async def get_event_ics(node: Node, request: web.Request) -> web.Response:
    event, version = await events.find(node.store, request.match_info["id"], prefer=node.space)
    everything = await events.all_events(node.store)
    jids = events.joint_ids(everything)
    jid = jids.get(event.id, "")
    if jid:  # the same one VEVENT (and UID) as in the calendar feed
        parts = [(msgspec.structs.replace(e, joint_id=jid), v) for e, v in everything if jids[e.id] == jid]
        body = render(parts, calendar_name=event.title, space_names=await _names(node))
    else:
        body = render_one(event, version, space_names=await _names(node))
    return _ics(body, f"{event.id}.ics")


class FeedInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/feeds: an .ics URL this space already publishes its events to."""

    url: str


async def list_feeds(node: Node, request: web.Request) -> web.Response:
    return json_response({"feeds": await node.part(Importer).listing()})


async def post_feed(node: Node, request: web.Request) -> web.Response:
    inp = await decode_body(request, FeedInput)
    return json_response(await node.part(Importer).add(inp.url), status=201)


async def poll_feeds(node: Node, request: web.Request) -> web.Response:
    return json_response({"feeds": await node.part(Importer).poll_all()})


ROUTES: Final = (
    Route("GET", "/api/events", list_events, "Federated events (from, to, space, tag, joint, status, limit, offset)"),
    Route("POST", "/api/events", post_event, "Create an event of this space", body=EventInput),
    Route("GET", "/api/events/{id}.ics", get_event_ics, "One event as iCalendar"),
    Route("GET", "/api/events/{id}", get_event, "One event, its parts; with the token, RSVPs and attendees"),
    Route("PATCH", "/api/events/{id}", patch_event, "Edit an event of this space", body=EventPatch),
    Route("POST", "/api/events/{id}/cancel", cancel_event, "Cancel an event of this space"),
    Route("POST", "/api/events/{id}/rsvps", post_rsvp, "Sign up (or cancel) a member of this space", body=RsvpInput),
    Route("GET", "/api/rsvps", list_rsvps, "This space's members' RSVPs and their status", private=True),
    Route("GET", "/calendar.ics", calendar_ics, "The federated calendar (RFC 5545)"),
    Route("GET", "/api/feeds", list_feeds, "Calendar feeds this space imports", private=True),
    Route("POST", "/api/feeds", post_feed, "Import an .ics feed into this space's events", body=FeedInput),
    Route("POST", "/api/feeds/poll", poll_feeds, "Poll every feed now"),
)
