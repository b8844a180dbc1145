"""The LAB's dashboard pages: the themes (and opening one), a theme with its discussion and
reports (new posts arrive live), writing a post, a reply or a report, moderating this
node's view (hide, pin, undo; following another space's labels), and search. Editing
and retracting what this space wrote are edit_pages.py's.

Forms post to the node itself and go through the same writes as the JSON API
(writing.py); a refused form comes back with what was typed and the error next to its
field, in the operator's language. Dates are shown in the space's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec
from aiohttp import web

from node.context import Context
from node.events import rules as events
from node.errors import HitodeError, bad_input_from
from node.federation.outbox import OUTBOX
from node.federation.replica import APPLIED
from node.lab import discussion, index, labels, writing
from node.lab.forms import FIELDS, field_errors, report_input
from node.lab.routes import names
from node.lab.rules import find
from node.members import rules as members
from node.web.i18n import N_, Translator
from node.web.page import Page, PageResult
from node.web.payload import clean
from node.web.shell import translator
from schemas.lab import LABEL_VALUES, LabelInput, PostInput, Theme, ThemeEdit, ThemeInput

__all__ = ["PAGES", "dated", "meetings", "meeting"]

_LABEL_NAMES: Final = {"hide": N_("Hidden"), "pin": N_("Pinned"), "approve": N_("Approved")}


def dated(entries: Iterable[dict[str, Any]], t: Translator) -> None:
    """Each entry (and its replies) gets `written`: its writing time, in the space's zone and language."""
    for e in entries:
        e["written"] = t.datetime(dt.datetime.fromisoformat(e["created_at"]), "short")
        e["edited"] = e["updated_at"] != e["created_at"]
        dated(e.get("replies", ()), t)


def _form(values: Mapping[str, Any], keys: Iterable[str]) -> dict[str, str]:
    return {k: str(values.get(k, "")) for k in keys}


async def themes_page(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    view = await labels.view(node.store, node.space)
    values, errors = {"title": "", "question": "", "tags": "", "meeting": ""}, {}
    if request.method == "POST":
        form = await request.post()
        values = _form(form, values)
        try:
            inp = msgspec.convert(clean({"title": values["title"], "question": values["question"],
                                         "tags": values["tags"].split(), "meeting": values["meeting"]}), ThemeInput)
            theme = await writing.open_theme(node.store, node.ident, inp, index.put)
        except msgspec.ValidationError as e:
            errors = field_errors(t, [bad_input_from(e).field or "title"], "title")
        except HitodeError as e:
            errors = field_errors(t, [e.field or "title"], "title")
        else:
            raise web.HTTPSeeOther(f"/lab/themes/{theme.id}")
    listed = await discussion.themes(node.store, await names(node), view)
    for entry in listed:
        entry["active"] = t.datetime(dt.datetime.fromisoformat(entry["last_activity"]), "short")
    return {"themes": listed, "values": values, "errors": errors, "fields": FIELDS, "me": node.space,
            "meetings": await meetings(node, t)}


async def meetings(node: Context, t: Translator) -> list[dict[str, str]]:
    """Coming events of the calendar, any space's, to hold a theme's online meeting."""
    now = dt.datetime.now(dt.UTC)
    coming = sorted((e for e, _ in await events.all_events(node.store) if e.status != "cancelled" and e.end > now),
                    key=lambda e: (e.start, e.id))
    return [{"id": e.id, "title": e.title, "when": t.datetime(e.start, "short"), "space": e.space} for e in coming[:100]]


async def meeting(node: Context, t: Translator, event_id: str) -> dict[str, str] | None:
    if not event_id:
        return None
    try:
        e, _ = await events.find(node.store, event_id)
    except HitodeError:
        return None  # not here yet: the theme's page shows no meeting until it is
    return {"id": e.id, "title": e.title, "when": t.datetime(e.start, "short"), "space": e.space,
            "cancelled": "1" if e.status == "cancelled" else ""}


async def _theme_vars(node: Context, request: web.Request, theme_id: str) -> dict[str, Any]:
    t = translator(request)
    view = await labels.view(node.store, node.space)
    found = await _theme(node, theme_id)
    theme = await discussion.theme(node.store, found, await names(node), view, hidden=True)
    dated(theme["posts"], t)
    dated(theme["reports"], t)
    return {"theme": theme, "me": node.space, "label_names": _LABEL_NAMES,
            "meeting": await meeting(node, t, theme["meeting"])}


async def _theme(node: Context, theme_id: str) -> tuple[Theme, int]:
    try:
        return await find(node.store, Theme, theme_id)
    except HitodeError:
        raise web.HTTPNotFound() from None


async def theme_page(node: Context, request: web.Request) -> PageResult:
    """The theme, its discussion and reports (the live part), and the form to write a post or reply."""
    theme_id = request.match_info["id"]
    out = await _theme_vars(node, request, theme_id)
    reply_to = request.query.get("reply", "")
    values, errors = {"body": "", "member": "", "reply_to": reply_to}, {}
    if request.method == "POST":
        t = translator(request)
        form = await request.post()
        values = _form(form, values)
        given = {"body": values["body"], "member": values["member"] or None, "reply_to": values["reply_to"] or None}
        try:
            inp = msgspec.convert(clean(given), PostInput)
            await writing.write_post(node.store, node.ident, theme_id, inp, index.put)
        except msgspec.ValidationError as e:
            errors = field_errors(t, [bad_input_from(e).field or "body"], "body")
        except HitodeError as e:
            errors = field_errors(t, [e.field or "body"], "body", closed=e.status == 409)
        else:
            raise web.HTTPSeeOther(f"/lab/themes/{theme_id}#discussion")
        out = await _theme_vars(node, request, theme_id)
    parent = next((p for p in out["theme"]["posts"] if p["id"] == values["reply_to"]), None)
    return out | {"values": values, "errors": errors, "fields": FIELDS, "parent": parent, "saved": "saved" in request.query,
                  "members": await members.listing(node.store)}


async def report_page(node: Context, request: web.Request) -> PageResult:
    theme_id = request.match_info["id"]
    theme, _ = await _theme(node, theme_id)
    keys = ("title", "tried", "where", "when", "cost", "happened", "numbers", "again", "links")
    values, errors = dict.fromkeys(keys, ""), {}
    if request.method == "POST":
        t = translator(request)
        values = _form(await request.post(), keys)
        try:
            await writing.write_report(node.store, node.ident, theme_id, report_input(values), index.put)
        except msgspec.ValidationError as e:
            errors = field_errors(t, [bad_input_from(e).field or "title"], "title")
        except HitodeError as e:
            errors = field_errors(t, [e.field or "title"], "title", closed=e.status == 409)
        else:
            raise web.HTTPSeeOther(f"/lab/themes/{theme_id}#reports")
    return {"theme": {"id": theme.id, "title": theme.title}, "values": values, "errors": errors, "fields": FIELDS}


def _back(next_: str) -> str:
    return next_ if next_.startswith("/lab") and not next_.startswith("//") else "/lab/moderation"


async def label_action(node: Context, request: web.Request) -> PageResult:
    """A hide, pin, approve or undo button: this space's label, then back where it was pressed."""
    form = await request.post()
    given = {"subject": str(form.get("subject", "")), "label": str(form.get("label", "")),
             "undo": form.get("undo") == "1"}
    try:
        await writing.label(node.store, node.ident, msgspec.convert(given, LabelInput))
    except (msgspec.ValidationError, HitodeError):
        raise web.HTTPBadRequest(reason="that label cannot be set here") from None
    raise web.HTTPSeeOther(_back(str(form.get("next", ""))))


async def own_action(node: Context, request: web.Request) -> PageResult:
    """This space's own theme, closed or reopened (editing and retracting have their own
    pages, edit_pages.py: a form, and a page that says what retracting does)."""
    form = await request.post()
    kind, record_id, action = str(form.get("kind", "")), str(form.get("id", "")), str(form.get("action", ""))
    try:
        if action in ("closed", "open") and kind == "theme":
            edit = ThemeEdit(status="closed" if action == "closed" else "open")
            await writing.edit(node.store, node.ident, Theme, record_id, edit, index.put)
        else:
            raise web.HTTPBadRequest(reason="no such action")
    except HitodeError as e:
        raise web.HTTPConflict(reason=e.message) from None
    raise web.HTTPSeeOther(_back(str(form.get("next", ""))))


async def moderation_page(node: Context, request: web.Request) -> PageResult:
    """This space's labels (each can be undone or set again) and the spaces whose labels it follows."""
    t = translator(request)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.post()
        space = str(form.get("space", ""))
        chosen = [v for v in LABEL_VALUES if form.get(f"follow_{v}") == "1"]
        try:
            await node.directory.space(space)
            await labels.follow(node.store, node.space, space, chosen)
        except HitodeError:
            errors = field_errors(t, ["space"], "space")
        else:
            raise web.HTTPSeeOther("/lab/moderation?saved=1")
    everything = {}
    for kind in ("lab_theme", "lab_post", "lab_report"):
        for item, _ in await discussion.load(node.store, kind):
            everything[item.id] = (kind, item)
    own = await labels.own(node.store, node.space)
    for o in own:
        kind, item = everything.get(o["subject"], ("", None))
        o["what"] = _describe(item)
        o["theme_id"] = "" if item is None else getattr(item, "theme", item.id)
        o["written"] = t.datetime(dt.datetime.fromisoformat(o["at"]), "short")
    spaces = [s for s in await node.directory.spaces() if s["id"] != node.space]
    return {"own": own, "follows": await labels.follows(node.store), "spaces": spaces, "errors": errors,
            "label_names": _LABEL_NAMES, "label_values": LABEL_VALUES, "saved": "saved" in request.query}


def _describe(item: Any) -> str:
    if item is None:
        return ""
    text = getattr(item, "title", "") or getattr(item, "body", "")
    return text if len(text) <= 80 else text[:79] + "…"


async def search_page(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    q = request.query.get("q", "").strip()[:200]
    results: list[dict[str, Any]] = []
    if q:
        results = await index.search(node.store, q, await names(node), await labels.view(node.store, node.space))
        dated(results, t)
    return {"q": q, "results": results}


_THEME: Final = "/lab/themes/{id:[A-Za-z0-9._:-]+}"
PAGES: Final = (
    Page(path="/lab", handler=themes_page, template="lab/themes.html", nav=N_("LAB"), order=40),
    Page(path="/lab", handler=themes_page, template="lab/themes.html", method="POST"),
    Page(path=_THEME, handler=theme_page, template="lab/theme.html",
         live=(("lab-discussion", "lab/discussion.html"),), wakes=(APPLIED, OUTBOX, labels.FOLLOWED)),
    Page(path=_THEME, handler=theme_page, template="lab/theme.html", method="POST"),
    Page(path=_THEME + "/report", handler=report_page, template="lab/report.html"),
    Page(path=_THEME + "/report", handler=report_page, template="lab/report.html", method="POST"),
    Page(path="/lab/labels", handler=label_action, template="lab/moderation.html", method="POST"),
    Page(path="/lab/mine", handler=own_action, template="lab/moderation.html", method="POST"),
    Page(path="/lab/moderation", handler=moderation_page, template="lab/moderation.html"),
    Page(path="/lab/moderation", handler=moderation_page, template="lab/moderation.html", method="POST"),
    Page(path="/lab/search", handler=search_page, template="lab/search.html"),
)
