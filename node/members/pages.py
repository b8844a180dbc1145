"""The dashboard's member pages: the list, and one form to add or edit a member, which
says beside each field whether it ever leaves this node (DESIGN §6).

The form is declared once (`FIELDS`): a field is a name, a label, a kind (how it is typed
and read back) and a sentence on where its value goes. A feature that adds to a member
(availability, per-skill sharing) adds a field here, and the one template shows it.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec
from aiohttp import web

from node.context import Context
from node.errors import HitodeError, bad_input_from
from node.federation.outbox import new_id
from node.members import rules as members
from node.web.i18n import N_
from node.web.page import Page, PageResult
from node.web.payload import clean
from node.web.shell import render, translator
from schemas.member import MemberInput, MemberPatch

__all__ = ["PAGES", "Field", "FIELDS"]


class Field(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    label: str  # msgid
    kind: str = "text"  # text | email | checkbox | list (one value per line or comma) | select
    options: tuple[tuple[str, str], ...] = ()  # a select's (value, label msgid)
    rule: str = ""  # msgid: what a valid value is, said when one is not
    where: str = ""  # msgid: whether the value leaves this node, and when
    leaves: bool = False  # shown as "shared" or "stays here"


FIELDS: Final = (
    Field(name="name", label=N_("Name"), rule=N_("Required: one line of at most 120 characters."),
          where=N_("Stays at this space unless the box below is ticked.")),
    Field(name="share_name", label=N_("Show this name to other spaces"), kind="checkbox", leaves=True,
          where=N_("When ticked, the name goes with this member's RSVPs and visits to the spaces involved.")),
    Field(name="email", label=N_("E-mail"), kind="email", rule=N_("An e-mail address such as hanako@example.jp, or empty."),
          where=N_("Never leaves this node.")),
    Field(name="skills", label=N_("Skills"), kind="list",
          rule=N_("One skill per line (or separated by commas), each at most 60 characters."),
          where=N_("Kept at this space, to find who can help with a request. They do not leave this node.")),
    Field(name="shared_skills", label=N_("Skills this member shares"), kind="list", leaves=True,
          rule=N_("Only skills listed above, one per line (or separated by commas)."),
          where=N_("Sent only in an offer this member agreed to, to the space that asked.")),
    Field(name="availability", label=N_("Availability"), kind="select",
          options=(("available", N_("Available")), ("busy", N_("Busy")), ("away", N_("Away"))),
          rule=N_("Choose one."), where=N_("Used here to rank who fits a request. It does not leave this node.")),
    Field(name="region", label=N_("Region"), rule=N_("One line of at most 60 characters."),
          where=N_("Used here to rank who fits a request. It does not leave this node.")),
)
_BY_NAME: Final = {f.name: f for f in FIELDS}
_SPLIT: Final = re.compile(r"[\n,、，]")


def _values(member: dict[str, Any]) -> dict[str, Any]:
    """A member as the form shows it: lists one item per line."""
    return {f.name: "\n".join(member.get(f.name, [])) if f.kind == "list"
            else member.get(f.name, f.options[0][0] if f.options else "") for f in FIELDS}


def _read(form: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what was typed, to show again; the member as the JSON API takes it)."""
    typed: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for f in FIELDS:
        if f.kind == "checkbox":
            typed[f.name] = data[f.name] = f.name in form
        elif f.kind == "list":
            typed[f.name] = str(form.get(f.name, ""))
            data[f.name] = [s.strip() for s in _SPLIT.split(typed[f.name]) if s.strip()]
        else:
            typed[f.name] = str(form.get(f.name, ""))
            data[f.name] = typed[f.name].strip()
    return typed, data


def _field_of(e: Exception) -> str:
    named = (bad_input_from(e).field if isinstance(e, msgspec.ValidationError) else getattr(e, "field", None)) or "name"
    name = re.split(r"[.\[]", named)[0]
    return name if name in _BY_NAME else "name"


async def _save(node: Context, request: web.Request, member_id: str | None) -> dict[str, Any]:
    t = translator(request)
    typed, data = _read(await request.post())
    try:
        if member_id is None:
            made = await members.create(node.store, msgspec.convert(clean(data), MemberInput), new_id())
            raise web.HTTPSeeOther(f"/members?added={made['id']}")
        await members.patch(node.store, member_id, msgspec.convert(clean(data), MemberPatch))
        raise web.HTTPSeeOther(f"/members/{member_id}?saved=1")
    except (msgspec.ValidationError, HitodeError) as e:
        field = _BY_NAME[_field_of(e)]
        error = t.gettext("%(field)s: %(rule)s") % {"field": t.gettext(field.label), "rule": t.gettext(field.rule)}
        return {"values": typed, "errors": {field.name: error}}


def _form(member: dict[str, Any] | None, node: Context, **more: Any) -> dict[str, Any]:
    fid = members.federation_id(members.secret_of(node.data_dir), member["id"]) if member else ""
    return {"fields": FIELDS, "member": member, "federation_id": fid, "errors": {}, "saved": False,
            "values": _values(member or {}), **more}


async def listing(node: Context, request: web.Request) -> PageResult:
    rows = await members.listing(node.store)
    added = request.query.get("added", "")
    return {"members": rows, "added": next((m for m in rows if m["id"] == added), None)}


async def new_member(node: Context, request: web.Request) -> PageResult:
    if request.method == "POST":
        return {**_form(None, node), **await _save(node, request, None)}
    return _form(None, node)


async def edit_member(node: Context, request: web.Request) -> PageResult:
    try:
        member = await members.get(node.store, request.match_info["id"])
    except HitodeError:
        t = translator(request)
        return render(request, "error.html", {"message": t.gettext("There is no such member at this space."),
                                              "detail": request.match_info["id"]}, status=404)
    if request.method == "POST":
        return {**_form(member, node), **await _save(node, request, member["id"])}
    return _form(member, node, saved="saved" in request.query)


_ID: Final = "/members/{id:[A-Za-z0-9._:-]+}"
PAGES: Final = (
    Page(path="/members", handler=listing, template="members/members.html", nav=N_("Members"), order=30),
    Page(path="/members/new", handler=new_member, template="members/member.html"),
    Page(path="/members/new", handler=new_member, template="members/member.html", method="POST"),
    Page(path=_ID, handler=edit_member, template="members/member.html"),
    Page(path=_ID, handler=edit_member, template="members/member.html", method="POST"),
)
