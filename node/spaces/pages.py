"""The dashboard's directory pages: the federation (every space, online or not, where, when
open, which languages) and this space's own profile as a form."""

from __future__ import annotations

from typing import Any, Final

import msgspec
from aiohttp import web

from node.context import Context
from node.errors import HitodeError, bad_input_from
from node.spaces.map import draw
from node.web.i18n import N_, Translator
from node.web.page import Page, PageResult
from node.web.payload import clean
from node.web.shell import translator
from schemas.space import ProfileEdit

__all__ = ["PAGES"]

_LINE: Final = N_("One line of at most 200 characters, without control characters.")
# The form's fields: label, and the rule said in words when a value breaks it.
FIELDS: Final = {
    "name": (N_("Name"), N_("Required: one line of at most 120 characters, not only spaces, without control characters.")),
    "name_ja": (N_("Name in Japanese"), _LINE),
    "city": (N_("City"), _LINE),
    "hours": (N_("Opening hours"), _LINE),
    "house_rules": (N_("House rules"), N_("At most 4000 characters, without control characters.")),
    "latitude": (N_("Latitude"), N_("A number from -90 to 90, such as 34.69 for Kobe. Leave both empty to stay off the map.")),
    "longitude": (N_("Longitude"), N_("A number from -180 to 180, such as 135.19 for Kobe. Leave both empty to stay off the map.")),
}
LOCATION: Final = ("latitude", "longitude")


def _languages(codes: list[str], t: Translator) -> str:
    return ", ".join(t.locale.languages.get(c, c) for c in codes)


async def federation(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    spaces = sorted(await node.directory.spaces(), key=lambda s: (s["id"] != node.space, not s["online"], s["id"]))
    for s in spaces:
        s["display_name"] = (s.get("name_ja") or s["name"]) if t.lang == "ja" else s["name"]
        s["language_names"] = _languages(s.get("languages", []), t)
    located = [s for s in spaces if s.get("latitude") is not None and s.get("longitude") is not None]
    return {"spaces": spaces, "online": sum(1 for s in spaces if s["online"]),
            "map": draw(located, lambda s: str(s["display_name"])), "unlocated": len(spaces) - len(located)}


def _error(t: Translator, field: str) -> str:
    label, rule = FIELDS[field]
    return t.gettext("%(field)s: %(rule)s") % {"field": t.gettext(label), "rule": t.gettext(rule)}


async def my_space(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    current = await node.directory.space(node.space)
    values = {k: "" if current.get(k) is None else str(current.get(k, "")) for k in FIELDS}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.post()
        values = {k: str(form.get(k, "")).strip() if k in LOCATION else str(form.get(k, "")) for k in FIELDS}
        try:
            edit = msgspec.convert(clean(_typed(values)), ProfileEdit)
            await node.directory.edit(edit)
        except msgspec.ValidationError as e:
            errors[bad_input_from(e).field or "name"] = ""
        except HitodeError as e:
            errors[e.field if e.field in FIELDS else "name"] = ""
        except ValueError:  # a coordinate that is not a number
            errors[next(k for k in LOCATION if not _number(values[k]))] = ""
        else:
            raise web.HTTPSeeOther("/space?saved=1")
        errors = {k: _error(t, k) for k in errors}
    return {"values": values, "errors": errors, "fields": FIELDS, "saved": "saved" in request.query}


def _number(text: str) -> bool:
    try:
        float(text.replace(",", ".") or "0")
    except ValueError:
        return False
    return True


def _typed(values: dict[str, str]) -> dict[str, Any]:
    """The form's text as the profile's types: a coordinate is a number, or None (cleared)."""
    return {k: (float(v.replace(",", ".")) if v else None) if k in LOCATION else v for k, v in values.items()}


def _form_page(**kw: Any) -> Page:
    return Page(path="/space", handler=my_space, template="spaces/space.html", **kw)


PAGES: Final = (
    Page(path="/federation", handler=federation, template="spaces/federation.html", nav=N_("Federation"), order=10),
    _form_page(nav=N_("My space"), order=20),
    _form_page(method="POST"),
)
