"""The HTTP edge: JSON API for the operator, errors mapped once, reads served from SQLite.

Every route is declared once in `ROUTES` with its input type and whether it needs the
operator token; the OpenAPI document is generated from the same table. Public federation
data may be read without the token; writes and private data need it (DESIGN §7).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import msgspec
from aiohttp import web

from node.events import routes as api
from node.notes import rules as notes
from node.federation import records
from node.errors import HitodeError
from node.web.payload import authorize, decode_body, json_response, token_ok
from schemas.event import EventInput, EventPatch, RsvpInput
from schemas.member import MemberInput, MemberPatch
from schemas.note import NoteInput
from schemas.space import ProfileEdit

if TYPE_CHECKING:
    from node.app.node import Node

__all__ = ["Route", "ROUTES", "make_app", "token_ok", "decode_body"]

log = logging.getLogger(__name__)

Handler = Callable[["Node", web.Request], Awaitable[web.StreamResponse]]


class Route(msgspec.Struct, frozen=True):
    method: str
    path: str
    handler: Handler
    summary: str
    private: bool = False
    body: type[msgspec.Struct] | None = None


def _error(e: HitodeError) -> web.Response:
    return json_response({"error": e.to_dict()}, status=e.status)


# handlers


async def healthz(node: Node, request: web.Request) -> web.Response:
    return json_response(await node.health())


async def metrics(node: Node, request: web.Request) -> web.Response:
    await node.refresh_gauges()
    return web.Response(body=node.metrics.render(), content_type="text/plain", charset="utf-8")


async def openapi(node: Node, request: web.Request) -> web.Response:
    from node.web.openapi import document

    return json_response(document())


async def list_spaces(node: Node, request: web.Request) -> web.Response:
    return json_response({"spaces": await node.directory.spaces()})


async def get_space(node: Node, request: web.Request) -> web.Response:
    return json_response(await node.directory.space(request.match_info["id"]))


async def put_space(node: Node, request: web.Request) -> web.Response:
    edit = await decode_body(request, ProfileEdit)
    profile, version = await node.directory.edit(edit)
    return json_response(node.directory.view(profile, version))


async def federation(node: Node, request: web.Request) -> web.Response:
    digest, count = await records.digest(node.store)
    chains = await node.store.all("SELECT author, channel, seq FROM chains ORDER BY author, channel")
    return json_response(
        {
            "space": node.space,
            "digest": digest,
            "records": count,
            "chains": [{"author": r[0], "channel": r[1], "seq": r[2]} for r in chains],
        }
    )


async def post_note(node: Node, request: web.Request) -> web.Response:
    inp = await decode_body(request, NoteInput)
    note = await notes.send(node.store, node.ident, inp, node.relay.wake)
    out = msgspec.to_builtins(note)
    out.pop("type", None)
    return json_response(out, status=201)


async def list_notes(node: Node, request: web.Request) -> web.Response:
    return json_response({"notes": await notes.listing(node.store, node.space)})


async def quarantine(node: Node, request: web.Request) -> web.Response:
    rows = await node.store.all(
        "SELECT id, at, source, subject, author, reason, seen, length(raw) AS size FROM quarantine"
        " ORDER BY id DESC LIMIT 200"
    )
    return json_response({"quarantine": [dict(r) for r in rows]})


async def alerts(node: Node, request: web.Request) -> web.Response:
    rows = await node.store.all("SELECT id, at, kind, space, message, seen FROM alerts ORDER BY id DESC LIMIT 200")
    return json_response({"alerts": [dict(r) for r in rows]})


ROUTES: Final = (
    Route("GET", "/healthz", healthz, "Space id, bus state, outbox backlog, replica lag"),
    Route("GET", "/metrics", metrics, "Prometheus metrics"),
    Route("GET", "/openapi.json", openapi, "This document"),
    Route("GET", "/api/spaces", list_spaces, "The federation directory"),
    Route("GET", "/api/spaces/{id}", get_space, "One space's profile"),
    Route("PUT", "/api/space", put_space, "Edit this space's profile", private=True, body=ProfileEdit),
    Route("GET", "/api/federation", federation, "High-water seq per author and channel, and a digest"),
    Route("POST", "/api/notes", post_note, "Send a sealed note to another space", private=True, body=NoteInput),
    Route("GET", "/api/notes", list_notes, "Notes sent and received", private=True),
    Route("GET", "/api/quarantine", quarantine, "Records refused from the bus, with reasons", private=True),
    Route("GET", "/api/alerts", alerts, "Alerts for the operator (equivocation, pin conflicts)", private=True),
    Route("GET", "/api/events", api.list_events, "Federated events (from, to, space, tag, joint, status, limit, offset)"),
    Route("POST", "/api/events", api.post_event, "Create an event of this space", body=EventInput),
    Route("GET", "/api/events/{id}.ics", api.get_event_ics, "One event as iCalendar"),
    Route("GET", "/api/events/{id}", api.get_event, "One event, its parts; with the token, RSVPs and attendees"),
    Route("PATCH", "/api/events/{id}", api.patch_event, "Edit an event of this space", body=EventPatch),
    Route("POST", "/api/events/{id}/cancel", api.cancel_event, "Cancel an event of this space"),
    Route("POST", "/api/events/{id}/rsvps", api.post_rsvp, "Sign up (or cancel) a member of this space", body=RsvpInput),
    Route("GET", "/api/rsvps", api.list_rsvps, "This space's members' RSVPs and their status", private=True),
    Route("GET", "/calendar.ics", api.calendar_ics, "The federated calendar (RFC 5545)"),
    Route("GET", "/api/members", api.list_members, "Members of this space", private=True),
    Route("POST", "/api/members", api.post_member, "Add a member", body=MemberInput),
    Route("GET", "/api/members/{id}", api.get_member, "One member", private=True),
    Route("PATCH", "/api/members/{id}", api.patch_member, "Edit a member", body=MemberPatch),
    Route("GET", "/api/feeds", api.list_feeds, "Calendar feeds this space imports", private=True),
    Route("POST", "/api/feeds", api.post_feed, "Import an .ics feed into this space's events", body=api.FeedInput),
    Route("POST", "/api/feeds/poll", api.poll_feeds, "Poll every feed now"),
)


def make_app(node: Node) -> web.Application:
    @web.middleware
    async def errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            return await handler(request)
        except HitodeError as e:
            return _error(e)
        except web.HTTPException as e:
            if e.status >= 400:
                code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(e.status, "http_error")
                return json_response({"error": {"code": code, "message": e.reason}}, status=e.status)
            raise
        except Exception:
            log.exception("http: %s %s failed", request.method, request.path)
            return json_response({"error": {"code": "internal", "message": "the node failed on this request; see its log"}}, status=500)

    app = web.Application(middlewares=[errors], client_max_size=256 * 1024)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _bind(node, route))
    return app


def _bind(node: Node, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        if route.private or route.method != "GET":
            authorize(node.token, request)
        return await route.handler(node, request)

    return handle


