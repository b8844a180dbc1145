"""One event on the dashboard: what, when, where, the parts of a joint event, who comes.

The host's page lists its attendees (live: a sign-up from another space appears without a
reload); any space's page lists this space's members' sign-ups with the host's answer, and
has the form to sign a member up, or off, on their behalf. The host decides (rsvps.py):
a seat if one is free, else the waitlist. The host also gets the way to cancel the event,
after a page that says what cancelling does.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from node.context import Context
from node.errors import Conflict, HitodeError, NotFound
from node.events import editing, rsvps
from node.events import rules as events
from node.events.calendar_page import WAKES, space_names
from node.events.display import of_entry, of_event
from node.members import rules as members
from node.members.rules import secret_of
from node.web.i18n import N_, Translator
from node.web.page import Page, PageHandler, PageResult
from node.web.shell import render, translator
from schemas.event import RsvpInput

__all__ = ["PAGES", "EVENT_PATH", "or_missing"]

EVENT_PATH: Final = "/calendar/events/{id:[A-Za-z0-9._:-]+}"
STATUS: Final = {"requested": N_("waiting for the host's answer"), "confirmed": N_("seat confirmed"),
                 "waitlisted": N_("on the waitlist"), "cancelled": N_("cancelled"), "refused": N_("refused")}
_NOT_OPEN: Final = N_("Sign-ups are closed: the event is cancelled or over.")


def or_missing(handler: PageHandler) -> PageHandler:
    """The page of an event this node does not hold: a page in the operator's language (404),
    not the JSON API's error."""

    async def handle(node: Context, request: web.Request) -> PageResult:
        try:
            return await handler(node, request)
        except NotFound as e:
            if e.field != "id":
                raise
            t = translator(request)
            return render(request, "error.html", {"detail": request.match_info["id"], "message": t.gettext(
                "There is no such event here. If another space just made it, it may not have arrived yet.")}, status=404)

    return handle


async def _variables(node: Context, request: web.Request, t: Translator) -> dict[str, Any]:
    event, version = await events.find(node.store, request.match_info["id"], prefer=node.space)
    names = await space_names(node)
    everything = await events.all_events(node.store)
    jid = events.joint_ids(everything).get(event.id, "")
    shown = of_event(event, names, t)
    if jid:
        (entry,) = events.group(events.select(everything, events.Filters(joint=jid)))
        shown["parts"] = of_entry(entry, names, t)["parts"]
        shown["joint"] = True
    people = await members.listing(node.store)
    secret = secret_of(node.data_dir)
    local = {members.federation_id(secret, m["id"]): m["name"] for m in people}
    by_id = {m["id"]: m["name"] for m in people}
    ours = event.space == node.space
    attendees = []
    if ours:
        for a in await rsvps.attendees(node.store, event.id):
            attendees.append({"who": local.get(a["member"], "") if a["space"] == node.space else a["display_name"],
                              "space": names.get(a["space"], a["space"]), "status": a["status"]})
    signed = [{"who": by_id.get(r["member"], r["member"]), "status": r["status"]}
              for r in await rsvps.mine(node.store, node.space, secret=secret, event_id=event.id)]
    return {"event": shown, "version": version, "ours": ours, "attendees": attendees, "signed": signed,
            "members": [(m["id"], m["name"]) for m in people], "status_names": STATUS, "values": {"member": ""},
            "errors": {}, "done": request.query.get("done", ""), "ics": f"/api/events/{event.id}.ics"}


async def event_view(node: Context, request: web.Request) -> PageResult:
    return await _variables(node, request, translator(request))


async def rsvp(node: Context, request: web.Request) -> PageResult:
    """Sign a member of this space up for the event (or off), as the member asked."""
    t = translator(request)
    form = await request.post()
    member, cancel = str(form.get("member", "")), form.get("action") == "cancel"
    if not member:
        error = t.gettext("Choose the member to sign up.")
    else:
        try:
            await rsvps.request(node.store, node.ident, secret_of(node.data_dir), request.match_info["id"],
                                RsvpInput(member=member, cancel=cancel))
        except Conflict:
            error = t.gettext(_NOT_OPEN)
        except HitodeError as e:
            error = t.gettext("Choose one of this space's members.") if e.field == "member" else t.gettext(
                "The host space is not known here yet; try again in a moment.")
        else:
            raise web.HTTPSeeOther(f"/calendar/events/{request.match_info['id']}?done={'off' if cancel else 'on'}")
    variables = await _variables(node, request, t)
    return {**variables, "values": {"member": member}, "errors": {"member": error}}


async def cancel_form(node: Context, request: web.Request) -> dict[str, Any]:
    variables = await _variables(node, request, translator(request))
    if not variables["ours"]:
        raise web.HTTPSeeOther(f"/calendar/events/{request.match_info['id']}")  # its page, which offers no cancel
    return variables


async def cancel(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    try:
        await editing.cancel(node.store, node.ident, request.match_info["id"])
    except HitodeError:
        variables = await cancel_form(node, request)
        return {**variables, "errors": {"cancel": t.gettext("This event cannot be cancelled: it is another space's, "
                                                            "or already cancelled.")}}
    raise web.HTTPSeeOther(f"/calendar/events/{request.match_info['id']}?done=cancelled")


_LIVE: Final = (("event-live", "events/event_live.html"),)

PAGES: Final = (
    Page(path=EVENT_PATH, handler=or_missing(event_view), template="events/event.html", live=_LIVE, wakes=WAKES),
    Page(path=EVENT_PATH + "/rsvp", method="POST", handler=or_missing(rsvp), template="events/event.html"),
    Page(path=EVENT_PATH + "/cancel", handler=or_missing(cancel_form), template="events/event_cancel.html"),
    Page(path=EVENT_PATH + "/cancel", method="POST", handler=or_missing(cancel), template="events/event_cancel.html"),
)
