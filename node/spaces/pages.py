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
from node.web.shell import panels, translator
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
# The visa policy's fields (schemas/space.py VisaPolicy): label, and the rule in words.
POLICY: Final = {
    "accepts_from": (N_("Accept visas from"), N_("Space ids separated by spaces or commas; empty for every space.")),
    "free_days_per_month": (N_("Free days per visitor per month"), N_("A whole number from 0 to 31.")),
    "notice_hours": (N_("Notice wanted (hours before a visit)"), N_("A whole number from 0 to 720; 0 for walk-ins.")),
}


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
            "map": draw(located, lambda s: str(s["display_name"])), "unlocated": len(spaces) - len(located),
            "panels": await panels(node, request, page="/federation")}


def _error(t: Translator, field: str) -> str:
    label, rule = FIELDS[field] if field in FIELDS else POLICY[field]
    return t.gettext("%(field)s: %(rule)s") % {"field": t.gettext(label), "rule": t.gettext(rule)}


def _policy_values(policy: dict[str, Any]) -> dict[str, str]:
    return {"accepts_visas": "on" if policy.get("accepts_visas", True) else "",
            "accepts_from": " ".join(policy.get("accepts_from", [])),
            "free_days_per_month": str(policy.get("free_days_per_month", 2)),
            "notice_hours": str(policy.get("notice_hours", 0)),
            "when_home_unreachable": str(policy.get("when_home_unreachable", "admit"))}


def _policy_input(values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    """The visa policy as the form gave it; a field that is no number is marked in `errors`."""
    out: dict[str, Any] = {"accepts_visas": values["accepts_visas"] == "on",
                           "accepts_from": [s for s in values["accepts_from"].replace(",", " ").split() if s],
                           "when_home_unreachable": "refuse" if values["when_home_unreachable"] == "refuse" else "admit"}
    for name in ("free_days_per_month", "notice_hours"):
        try:
            out[name] = int(values[name].strip())
        except ValueError:
            errors[name] = ""
    return out


async def my_space(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    current = await node.directory.space(node.space)
    values = {k: "" if current.get(k) is None else str(current.get(k, "")) for k in FIELDS}
    values |= _policy_values(current.get("visa_policy", {}))
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.post()

        def given(k: str) -> str:
            return str(form.get(k, "")).strip() if k in LOCATION else str(form.get(k, ""))

        # A form without the policy's fieldset (an older page, a script) leaves the policy as it is.
        values = {k: given(k) if k in FIELDS or "visa_policy" in form else v for k, v in values.items()}
        policy = _policy_input(values, errors)
        if not errors:
            try:
                typed = _typed({k: values[k] for k in FIELDS})
                edit = msgspec.convert(clean({**typed, "visa_policy": policy}), ProfileEdit)
                await node.directory.edit(edit)
            except msgspec.ValidationError as e:
                field = (bad_input_from(e).field or "name").removeprefix("visa_policy.").split("[")[0]
                errors[field if field in FIELDS or field in POLICY else "name"] = ""
            except HitodeError as e:
                errors[e.field if e.field in FIELDS else "name"] = ""
            except ValueError:  # a coordinate that is not a number
                errors[next(k for k in LOCATION if not _number(values[k]))] = ""
            else:
                raise web.HTTPSeeOther("/space?saved=1")
        errors = {k: _error(t, k) for k in errors}
    return {"values": values, "errors": errors, "fields": FIELDS, "policy_fields": POLICY,
            "saved": "saved" in request.query}


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
