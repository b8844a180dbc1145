"""The form that creates or edits an event of this space.

Every field is checked on its own against the API's own types (schemas/event.py), so the
operator sees each mistake next to its field at once, in the chosen language, with what
was typed kept; then the domain rule (times, capacity) runs as for the JSON API. Times are
typed in the space's zone (an edit: the event's own zone). An edit sends only the fields
that changed, with the version the form was read at: an edit made meanwhile is not
overwritten, the operator is told to look again.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final

import msgspec
from aiohttp import web

from node.context import Context
from node.errors import HitodeError, PreconditionFailed, bad_input_from
from node.events import editing
from node.events import rules as events
from node.events.event_page import EVENT_PATH, or_missing
from node.federation.outbox import new_id
from node.web.i18n import N_, Translator
from node.web.page import Page, PageResult
from node.web.shell import translator
from schemas.event import EventInput, EventPatch

__all__ = ["PAGES", "FIELDS"]

_LINE: Final = N_("One line of at most 200 characters, without control characters.")
# field: (label, the rule said in words when a value breaks it)
FIELDS: Final = {
    "title": (N_("Title"), N_("Required: one line of at most 200 characters.")),
    "start": (N_("Starts"), N_("Required: a date and time within a year back and five years ahead.")),
    "end": (N_("Ends"), N_("Required: after the start, and at most 31 days later.")),
    "mode": (N_("Where it happens"), N_("Choose one.")),
    "room": (N_("Room or place"), _LINE),
    "url": (N_("Online link"), N_("An http(s) address, or nothing.")),
    "capacity": (N_("Seats"), N_("A whole number from 0 to 100000, or nothing for no limit; not below the seats already taken.")),
    "tags": (N_("Tags"), N_("Up to 20 words of at most 40 characters each, separated by commas or spaces.")),
    "language": (N_("Language"), N_("Choose one.")),
    "description": (N_("Description"), N_("At most 8000 characters.")),
    "joint_id": (N_("Joint event"), N_("Choose one of the joint events listed, or none.")),
}
MODES: Final = {"onsite": N_("At the space"), "online": N_("Online"), "hybrid": N_("Both")}
LANGUAGES: Final = ("ja", "en")
_EMPTY: Final = {"title": "", "start": "", "end": "", "mode": "onsite", "room": "", "url": "", "capacity": "",
                 "tags": "", "language": "ja", "description": "", "joint_id": "", "joint": ""}


class _Bad(Exception):
    def __init__(self, field: str) -> None:
        self.field = field


def _local(value: str, zone: dt.tzinfo, field: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=zone)
    except ValueError:
        raise _Bad(field) from None


def _body(values: dict[str, str], zone: dt.tzinfo) -> tuple[dict[str, Any], set[str]]:
    """The form as the API's input, and the fields that break their type."""
    bad: set[str] = set()
    out: dict[str, Any] = {"title": values["title"], "description": values["description"].replace("\r\n", "\n"),
                           "language": values["language"],
                           "place": {"mode": values["mode"], "room": values["room"], "url": values["url"]},
                           "tags": [t for t in re.split(r"[\s,、，]+", values["tags"]) if t]}
    for f in ("start", "end"):
        try:
            out[f] = _local(values[f], zone, f)
        except _Bad:
            bad.add(f)
    try:
        out["capacity"] = int(values["capacity"]) if values["capacity"].strip() else None
    except ValueError:
        bad.add("capacity")
    types = {f.name: f.type for f in msgspec.structs.fields(EventInput)}
    place = {f.name: f.type for f in msgspec.structs.fields(types["place"])}
    for name, value in out.items():
        checks = [(k, place[k], v) for k, v in value.items()] if name == "place" else [(name, types[name], value)]
        for field, type_, v in checks:
            try:
                msgspec.convert(v, type_)
            except msgspec.ValidationError:
                bad.add(field)
    if values["language"] not in LANGUAGES:
        bad.add("language")
    return out, bad


def _errors(bad: set[str], t: Translator) -> dict[str, str]:
    return {f: t.gettext("%(field)s: %(rule)s") % {"field": t.gettext(FIELDS[f][0]), "rule": t.gettext(FIELDS[f][1])}
            for f in bad}


def _field_of(e: HitodeError | msgspec.ValidationError) -> str:
    field = e.field if isinstance(e, HitodeError) else bad_input_from(e).field
    name = (field or "title").split(".")[-1]
    return name if name in FIELDS else "title"


async def _joint_choices(node: Context) -> list[tuple[str, str]]:
    """Joint events another space opened that this one may add a part to."""
    everything = await events.all_events(node.store)
    now = dt.datetime.now(dt.UTC)
    return [(e.id, e.title) for e, _ in everything
            if e.joint_id == e.id and e.space != node.space and e.status != "cancelled" and e.end > now]


async def _page(node: Context, values: dict[str, str], errors: dict[str, str], **kw: Any) -> dict[str, Any]:
    return {"values": values, "errors": errors, "fields": FIELDS, "modes": MODES, "languages": LANGUAGES,
            "joints": await _joint_choices(node), "zone": node.config.space.tz, **kw}


async def new_form(node: Context, request: web.Request) -> PageResult:
    return await _page(node, dict(_EMPTY), {}, editing_id="", version=0)


async def create(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    form = await request.post()
    values = {k: str(form.get(k, v)) for k, v in _EMPTY.items()}
    body, bad = _body(values, t.zone)
    if values["joint_id"] and values["joint_id"] not in dict(await _joint_choices(node)):
        bad.add("joint_id")
    if not bad:
        try:
            inp = msgspec.convert({**body, "tz": node.config.space.tz, "joint_id": values["joint_id"],
                                   "joint": bool(values["joint"]) and not values["joint_id"]}, EventInput)
            event = events.create(node.space, inp, new_id())
            await node.store.transact(lambda tx: events.save(tx, node.ident, event, 1))
        except (HitodeError, msgspec.ValidationError) as e:
            bad.add(_field_of(e))
        else:
            raise web.HTTPSeeOther(f"/calendar/events/{event.id}?done=saved")
    return await _page(node, values, _errors(bad, t), editing_id="", version=0)


def _typed(e: Any, zone: dt.tzinfo) -> dict[str, str]:
    """An event as the form shows it (times in its own zone, as datetime-local wants)."""
    return {"title": e.title, "description": e.description, "mode": e.place.mode, "room": e.place.room,
            "url": e.place.url, "capacity": "" if e.capacity is None else str(e.capacity), "tags": ", ".join(e.tags),
            "language": e.language, "start": e.start.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            "end": e.end.astimezone(zone).strftime("%Y-%m-%dT%H:%M"), "joint_id": "", "joint": ""}


async def _own(node: Context, request: web.Request) -> tuple[Any, int]:
    event, version = await events.find(node.store, request.match_info["id"], prefer=node.space)
    if event.space != node.space or event.status == "cancelled":
        raise web.HTTPSeeOther(f"/calendar/events/{event.id}")  # its page, which offers no edit
    return event, version


async def edit_form(node: Context, request: web.Request) -> PageResult:
    event, version = await _own(node, request)
    return await _page(node, _typed(event, events.zone_or_utc(event.tz)), {}, editing_id=event.id, version=version)


async def edit(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    event, version = await _own(node, request)
    zone = events.zone_or_utc(event.tz)
    form = await request.post()
    before = _typed(event, zone)
    values = {k: str(form.get(k, v)) for k, v in before.items()}
    seen = int(v) if (v := str(form.get("version", ""))).isdigit() else version
    body, bad = _body(values, zone)
    if not bad:
        changed = {k for k in before if values[k] != before[k]}
        keep = {"title", "description", "start", "end", "capacity", "tags", "language"} & changed
        patch = {k: body[k] for k in keep}
        if changed & {"mode", "room", "url"}:
            patch["place"] = body["place"]
        try:
            await editing.edit(node.store, node.ident, event.id, msgspec.convert(patch, EventPatch), expect=seen)
        except PreconditionFailed:
            return await _page(node, values, {"title": t.gettext(
                "Someone changed this event while you were editing; nothing was saved. Open it again to see the change.")},
                editing_id=event.id, version=seen)
        except (HitodeError, msgspec.ValidationError) as e:
            bad.add(_field_of(e))
        else:
            raise web.HTTPSeeOther(f"/calendar/events/{event.id}?done=saved")
    return await _page(node, values, _errors(bad, t), editing_id=event.id, version=seen)


PAGES: Final = (
    Page(path="/calendar/new", handler=new_form, template="events/event_form.html"),
    Page(path="/calendar/new", method="POST", handler=create, template="events/event_form.html"),
    Page(path=EVENT_PATH + "/edit", handler=or_missing(edit_form), template="events/event_form.html"),
    Page(path=EVENT_PATH + "/edit", method="POST", handler=or_missing(edit), template="events/event_form.html"),
)
