"""The dashboard's requests pages: post, list and search, one request with the matches among
this space's members, offers and referrals sent from it, offers arriving live, accept, close."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import msgspec
from aiohttp import web

from node.context import Context
from node.errors import HitodeError, bad_input_from
from node.federation.outbox import OUTBOX
from node.federation.replica import APPLIED
from node.members import rules as members
from node.members import skills
from node.requests import book, lifecycle, matching, offers
from node.requests.routes import detail
from node.web.i18n import N_, Translator
from node.web.page import Page, PageResult
from node.web.payload import clean
from node.web.shell import translator
from schemas.request import AcceptInput, CloseInput, OfferInput, RequestFilters, RequestInput

__all__ = ["PAGES"]

KINDS: Final = {"help": N_("Help wanted"), "contract": N_("Joint contract"), "consult": N_("Consultation"),
                "collab": N_("Collaboration")}
REWARDS: Final = {"paid": N_("Paid"), "barter": N_("Barter"), "volunteer": N_("Volunteer")}
STATUSES: Final = {"open": N_("Open"), "matched": N_("Matched"), "closed": N_("Closed"), "expired": N_("Expired"),
                   "withdrawn": N_("Withdrawn")}
# The post form's fields and the rule said in words when a value breaks it.
FIELDS: Final = {
    "title": (N_("Title"), N_("Required: one line of at most 200 characters.")),
    "body": (N_("Details"), N_("At most 8000 characters, without control characters.")),
    "skills": (N_("Skills wanted (comma-separated)"), N_("Up to 20 skills of at most 60 characters each.")),
    "region": (N_("Region"), N_("One line of at most 60 characters.")),
    "deadline": (N_("Deadline"), N_("A date and time in the future (within two years).")),
    "kind": (N_("Kind"), N_("Choose one.")),
    "reward": (N_("Reward"), N_("Choose one.")),
    "member": (N_("For member"), N_("Choose a member of this space, or the space itself.")),
}


def _error(t: Translator, field: str) -> str:
    label, rule = FIELDS.get(field, FIELDS["title"])
    return t.gettext("%(field)s: %(rule)s") % {"field": t.gettext(label), "rule": t.gettext(rule)}


def _item(r: dict[str, Any], t: Translator, names: dict[str, str]) -> dict[str, Any]:
    deadline = dt.datetime.fromisoformat(r["deadline"])
    return {**r, "space_name": names.get(r["space"], r["space"]), "deadline_text": t.datetime(deadline, "short"),
            "kind_text": t.gettext(KINDS[r["kind"]]), "status_text": t.gettext(STATUSES[r["status"]]),
            "reward_text": t.gettext(REWARDS[r["reward"]])}


async def _names(node: Context) -> dict[str, str]:
    return {s["id"]: s["name"] for s in await node.directory.spaces()}


async def requests_page(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    q = {k: request.query.get(k, "") for k in ("text", "status", "kind")}
    try:
        f = msgspec.convert({k: v for k, v in q.items() if v}, RequestFilters)
    except msgspec.ValidationError:
        f = RequestFilters()
    found = await book.listing(node.store, f, dt.datetime.now(dt.UTC), await skills.load(node.store))
    names = await _names(node)
    counts = await matching.match_counts(node.store, [r["id"] for r in found])
    values: dict[str, str] = {"kind": "help", "reward": "volunteer", "online_ok": "on"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.post()
        values = {k: str(form.get(k, "")).strip() for k in (*FIELDS, "online_ok")}
        raw: dict[str, Any] = {k: values[k] for k in ("title", "body", "region", "kind", "reward", "member")}
        raw["skills"] = [s.strip() for s in values["skills"].replace("、", ",").split(",") if s.strip()]
        raw["online_ok"] = bool(values["online_ok"])
        deadline = values["deadline"]
        raw["deadline"] = deadline + ":00" if len(deadline) == 16 else deadline
        try:
            inp = msgspec.convert(clean(raw), RequestInput)
            made = await lifecycle.post(node.store, node.ident, members.secret_of(node.data_dir), inp,
                                        node.config.space.tz)
        except msgspec.ValidationError as e:
            errors[(bad_input_from(e).field or "title").split(".")[0].split("[")[0]] = ""
        except HitodeError as e:
            errors[e.field if e.field in FIELDS else "title"] = ""
        else:
            raise web.HTTPSeeOther(f"/requests/{made['id']}")
        errors = {k: _error(t, k) for k in errors}
    return {
        "requests": [{**_item(r, t, names), "matches": counts.get(r["id"], 0)} for r in found],
        "query": q, "values": values, "errors": errors, "fields": FIELDS, "kinds": KINDS, "rewards": REWARDS,
        "statuses": STATUSES, "members": await members.listing(node.store),
    }


async def request_page(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    request_id = request.match_info["id"]
    errors: dict[str, str] = {}
    if request.method == "POST":
        errors = await _act(node, request, request_id, t)
        if not errors:
            raise web.HTTPSeeOther(f"/requests/{request_id}")
    try:
        r = await detail(node, request_id, private=True)
    except HitodeError:
        raise web.HTTPNotFound() from None
    names = await _names(node)
    req, _ = await book.find(node.store, request_id)
    found = await matching.matches(node.store, req, await skills.load(node.store))
    mine = r["space"] == node.space
    return {
        "r": _item(r, t, names), "mine": mine, "matches": found, "errors": errors,
        "offers": [{"id": o.get("id") or o["record_id"], "space": o.get("space") or o["author"], "kind": o["kind"],
                    "display_name": o["display_name"], "skills": o["skills"], "message": o["message"],
                    "referred": o["referred"], "accepted": o["accepted"]} for o in r.get("offers", [])],
        "names": names, "live_path": f"/live/requests/{request_id}",
        "spaces": [(s, n) for s, n in sorted(names.items()) if s not in (node.space, r["space"])],
    }


async def _act(node: Context, request: web.Request, request_id: str, t: Translator) -> dict[str, str]:
    """One form of the request page: offer a member, refer, accept offers, close or withdraw."""
    form = await request.post()
    action = str(form.get("action", ""))
    try:
        if action in ("offer", "refer"):
            inp = msgspec.convert(clean({"member": str(form.get("member", "")), "referral": str(form.get("referral", "")),
                                         "message": str(form.get("message", ""))}), OfferInput)
            await offers.send(node.store, node.ident, members.secret_of(node.data_dir), request_id, inp)
        elif action == "accept":
            chosen = [str(v) for v in form.getall("offer", [])]
            await lifecycle.accept(node.store, node.ident, request_id, msgspec.convert({"offers": chosen}, AcceptInput))
        elif action in ("closed", "withdrawn"):
            await lifecycle.close(node.store, node.ident, request_id, CloseInput(status=action))  # type: ignore[arg-type]
    except msgspec.ValidationError:
        return {action: t.gettext("That could not be done: please check what you chose.")}
    except HitodeError as e:
        return {action: e.message}
    return {}


PAGES: Final = (
    Page(path="/requests", handler=requests_page, template="requests/list.html", nav=N_("Requests"), order=5),
    Page(path="/requests", handler=requests_page, template="requests/list.html", method="POST"),
    Page(path="/requests/{id:[A-Za-z0-9._:-]+}", handler=request_page, template="requests/detail.html",
         live=(("request-live", "requests/detail_live.html"),), wakes=(APPLIED, OUTBOX, book.CHANGED)),
    Page(path="/requests/{id:[A-Za-z0-9._:-]+}", handler=request_page, template="requests/detail.html", method="POST"),
)
