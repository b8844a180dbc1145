"""The pages on which a space changes what it wrote in the LAB: a form to edit its own
theme, post or report, prefilled with the current text, and a page that says what
retracting does before it is done.

The form goes through the same write as the API's PATCH (writing.edit), so it federates
the same way. Only the fields the operator changed are sent, each checked on its own
against the API's types, so every mistake shows next to its field at once, in the
operator's language, with what was typed kept. The form carries the version it was read
at: if the record was edited meanwhile (through the API, another tab), nothing is saved
and the operator is told to look again, rather than one edit silently undoing the other.
Another space's record, or a retracted one, has no edit or retract page: its address
leads back to its theme.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import msgspec
from aiohttp import web

from node.context import Context
from node.errors import Conflict, HitodeError, PreconditionFailed
from node.lab import index, writing
from node.lab.forms import FIELDS, field_errors, parse_numbers
from node.lab.pages import meeting, meetings
from node.lab.rules import Item, find
from node.web.i18n import N_, Translator
from node.web.page import Page, PageHandler, PageResult
from node.web.payload import clean
from node.web.shell import translator
from schemas.lab import Post, PostEdit, Report, ReportEdit, Theme, ThemeEdit

__all__ = ["PAGES", "typed"]

I = TypeVar("I", Theme, Post, Report)
# the path's word for a kind: (its edit's type, the form's fields in order)
_KINDS: Final[dict[str, tuple[type[msgspec.Struct], tuple[str, ...]]]] = {
    "themes": (ThemeEdit, ("title", "question", "tags", "meeting")),
    "posts": (PostEdit, ("body",)),
    "reports": (ReportEdit, ("title", "tried", "where", "when", "cost", "happened", "numbers", "again", "links")),
}
_STALE: Final = N_("This was changed while you were editing it, so nothing was saved. What you typed is kept "
                   "below; open the current version to see the change, then edit again.")


def _number(value: float) -> str:
    """A number as the form shows it: whole numbers without ".0", others in full."""
    return str(int(value)) if value.is_integer() else repr(value)


def typed(item: Item) -> dict[str, str]:
    """A theme, post or report as its edit form shows it (numbers and links one a line)."""
    if isinstance(item, Post):
        return {"body": item.body}
    if isinstance(item, Theme):
        return {"title": item.title, "question": item.question, "tags": " ".join(item.tags), "meeting": item.meeting}
    numbers = [f"{n.name} = {_number(n.value)} {n.unit}".rstrip() for n in item.numbers]
    return {"title": item.title, "tried": item.tried, "where": item.where, "when": item.when, "cost": item.cost,
            "happened": item.happened, "numbers": "\n".join(numbers), "again": item.again, "links": "\n".join(item.links)}


def _given(name: str, text: str) -> object:
    """One field's text as the API takes it (raises `Invalid` for a badly written number)."""
    if name == "tags":
        return text.split()
    if name == "numbers":
        return parse_numbers(text)
    if name == "links":
        return [line.strip() for line in text.splitlines() if line.strip()]
    return text


def _where(item: Item, query: str = "") -> str:
    """The record's place on its theme's page."""
    if isinstance(item, Theme):
        return f"/lab/themes/{item.id}{query}"
    return f"/lab/themes/{item.theme}{query}#{'post' if isinstance(item, Post) else 'report'}-{item.id}"


async def _own(node: Context, record_type: type[I], record_id: str) -> tuple[I, int]:
    """This space's own record, not retracted; anything else leads back to its theme."""
    try:
        item, version = await find(node.store, record_type, record_id)
    except HitodeError:
        raise web.HTTPNotFound() from None
    if item.space != node.space or item.status == "retracted":
        raise web.HTTPSeeOther(_where(item))
    return item, version


async def _form(node: Context, t: Translator, kind: str, item: Item, values: Mapping[str, str],
                errors: Mapping[str, str], version: int) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, "item": {"id": item.id, "back": _where(item)},
                           "keys": _KINDS[kind][1], "values": values, "errors": errors, "fields": FIELDS,
                           "version": version}
    if isinstance(item, Theme):
        choices = await meetings(node, t)
        if item.meeting and item.meeting not in {m["id"] for m in choices}:
            # a past (or not yet arrived) event stays the choice, so that saving keeps it
            held = await meeting(node, t, item.meeting)
            choices.insert(0, held or {"id": item.meeting, "title": item.meeting, "when": "", "space": ""})
        out["meetings"] = choices
    return out


def _changes(kind: str, before: Mapping[str, str], values: Mapping[str, str]) -> tuple[dict[str, object], list[str]]:
    """The fields the operator changed, as the API takes them, and those that break their rule."""
    edit_type, keys = _KINDS[kind]
    patch: dict[str, object] = {}
    bad: list[str] = []
    for name in keys:
        if values[name] == before[name]:
            continue
        try:
            value = clean(_given(name, values[name]))
            msgspec.convert({name: value}, edit_type)  # each on its own: every mistake is shown at once
        except (msgspec.ValidationError, HitodeError):
            bad.append(name)
        else:
            patch[name] = value
    return patch, bad


def _edit_page(kind: str, record_type: type[I]) -> PageHandler:
    async def edit_page(node: Context, request: web.Request) -> PageResult:
        t = translator(request)
        item, version = await _own(node, record_type, request.match_info["id"])
        before = typed(item)
        if request.method != "POST":
            return await _form(node, t, kind, item, before, {}, version)
        form = await request.post()
        values = {k: str(form.get(k, v)).replace("\r\n", "\n") for k, v in before.items()}
        # A form that does not say which version it was read at is as good as stale.
        seen = int(v) if (v := str(form.get("version", ""))).isdigit() else 0
        patch, bad = _changes(kind, before, values)
        if not bad:
            edit_type, keys = _KINDS[kind]
            try:
                await writing.edit(node.store, node.ident, record_type, item.id, msgspec.convert(patch, edit_type),
                                   index.put, expect=seen)
            except PreconditionFailed:
                return await _form(node, t, kind, item, values, {"version": t.gettext(_STALE)}, seen)
            except HitodeError as e:
                bad.append(e.field if e.field in keys else keys[0])
            else:
                raise web.HTTPSeeOther(_where(item, "?saved=1"))
        return await _form(node, t, kind, item, values, field_errors(t, bad, _KINDS[kind][1][0]), seen)

    return edit_page


def _retract_page(kind: str, record_type: type[I]) -> PageHandler:
    async def retract_page(node: Context, request: web.Request) -> PageResult:
        """What retracting does, and the button that does it."""
        item, _ = await _own(node, record_type, request.match_info["id"])
        if request.method == "POST":
            # Whatever version it is now (an edit elsewhere since the page was read): the
            # operator asked for it gone. Twice (a double click, two tabs) is the same.
            with contextlib.suppress(Conflict):
                await writing.retract(node.store, node.ident, record_type, item.id, index.put)
            raise web.HTTPSeeOther(_where(item))
        text = typed(item)
        return {"kind": kind, "item": {"id": item.id, "back": _where(item), "title": text.get("title", ""),
                                       "text": text.get("body") or text.get("question") or text.get("tried", "")}}

    return retract_page


def _pages(kind: str, record_type: type[I]) -> tuple[Page, ...]:
    path = f"/lab/{kind}/{{id:[A-Za-z0-9._:-]+}}"
    handlers = (("/edit", _edit_page(kind, record_type), "lab/edit.html"),
                ("/retract", _retract_page(kind, record_type), "lab/retract.html"))
    return tuple(Page(path=path + end, handler=handler, template=template, method=method)
                 for end, handler, template in handlers for method in ("GET", "POST"))


PAGES: Final = _pages("themes", Theme) + _pages("posts", Post) + _pages("reports", Report)
