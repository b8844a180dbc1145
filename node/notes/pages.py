"""The dashboard's notes: what other operators wrote to this space and what it wrote to
them (new ones appear while the page is open, over server-sent events), and a form to
write one to any space in the directory. Sealing is the rule's business (rules.py)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Final

import msgspec
from aiohttp import web

from node.context import Context
from node.errors import HitodeError, bad_input_from
from node.federation.outbox import OUTBOX
from node.federation.replica import APPLIED
from node.notes import rules as notes
from node.web.i18n import N_, Translator
from node.web.page import Page, PageResult, Panel
from node.web.payload import clean
from node.web.shell import translator
from schemas.note import NoteInput

__all__ = ["PAGES", "PANEL"]

RECENT_DAYS: Final = 7  # how far back the today page's panel looks

# The form's fields: label, and what a valid value is, said when one is not.
FIELDS: Final = {
    "to": (N_("To"), N_("Choose a space from the list.")),
    "subject": (N_("Subject"), N_("One line of at most 200 characters.")),
    "text": (N_("Message"), N_("Required: at most 8000 characters.")),
}


def _names(spaces: list[dict[str, Any]], t: Translator) -> dict[str, str]:
    return {s["id"]: (s.get("name_ja") or s["name"]) if t.lang == "ja" else s["name"] for s in spaces}


async def _shown(node: Context, t: Translator) -> list[dict[str, Any]]:
    """Every note, newest first, with the other space's name and the time in its words."""
    names = _names(await node.directory.spaces(), t)
    shown = []
    for n in await notes.listing(node.store, node.space):
        other = n["to"] if n["direction"] == "out" else n["author"]
        when = dt.datetime.fromtimestamp(n["at"], dt.UTC)
        shown.append({**n, "other": names.get(other, other), "other_id": other,
                      "when": t.datetime(when, "short"), "iso": when.isoformat()})
    return shown


async def inbox(node: Context, request: web.Request) -> PageResult:
    shown = await _shown(node, translator(request))
    return {"received": [n for n in shown if n["direction"] == "in"],
            "sent": [n for n in shown if n["direction"] == "out"], "just_sent": "sent" in request.query}


async def write(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    names = _names(await node.directory.spaces(), t)
    spaces = sorted(((sid, name) for sid, name in names.items() if sid != node.space), key=lambda s: s[1])
    values = {"to": request.query.get("to", ""), "subject": request.query.get("subject", ""), "text": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.post()
        values = {k: str(form.get(k, "")) for k in FIELDS}
        try:
            await notes.send(node.store, node.ident, msgspec.convert(clean(values), NoteInput))
        except msgspec.ValidationError as e:
            errors[bad_input_from(e).field or "text"] = ""
        except HitodeError as e:
            errors[e.field if e.field in FIELDS else "text"] = ""
        else:
            raise web.HTTPSeeOther("/notes?sent=1")
        errors = {k: t.gettext("%(field)s: %(rule)s") % {"field": t.gettext(FIELDS[k][0]), "rule": t.gettext(FIELDS[k][1])}
                  for k in errors if k in FIELDS}
    return {"spaces": spaces, "values": values, "errors": errors, "fields": FIELDS}


async def recent(node: Context, request: web.Request) -> dict[str, Any]:
    """The today page's notes panel: what other operators wrote in the last days."""
    since = time.time() - RECENT_DAYS * 86400
    received = [n for n in await _shown(node, translator(request)) if n["direction"] == "in" and n["at"] >= since]
    return {"recent_notes": received[:3], "recent_more": max(0, len(received) - 3)}


PANEL: Final = Panel(name="notes", template="notes/panel_notes.html", load=recent, order=20)
PAGES: Final = (
    Page(path="/notes", handler=inbox, template="notes/notes.html", nav=N_("Notes"), order=40,
         live=(("notes-live", "notes/notes_live.html"),), wakes=(APPLIED, OUTBOX)),
    Page(path="/notes/new", handler=write, template="notes/write.html"),
    Page(path="/notes/new", handler=write, template="notes/write.html", method="POST"),
)
