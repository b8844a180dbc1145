"""The visa pages: the front desk (check in by pasting or scanning a pass, check out, who is
here now, this month's books, refusals), the settlement (table, CSV, chart), and a
member's passes (issue, show the QR code, revoke)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, Final

from aiohttp import web
from markupsafe import Markup

from node.context import Context
from node.errors import HitodeError
from node.members import rules as members
from node.members.rules import CHANGED as MEMBERS_CHANGED
from node.members.rules import secret_of
from node.visas import books, desk, passes, settlement
from node.visas.passes import CHANGED
from node.web.i18n import N_, Translator
from node.web.page import Page, PageResult, Panel
from node.web.shell import translator
from schemas.visa import PassInput

__all__ = ["PAGES", "PANEL", "HONOURED", "REFUSALS"]

# What each refusal says to the operator, in the chosen language (the API's message is English).
REFUSALS: Final = {
    "token_malformed": N_("This is not a visa pass, or only part of one. Paste the whole text, or scan the code again."),
    "token_tampered": N_("This pass was altered after its space signed it. Do not admit on it."),
    "token_foreign": N_("This pass is not signed by the space it names. Do not admit on it."),
    "token_expired": N_("This pass has expired. The visitor's space can issue a new one."),
    "pass_revoked": N_("The visitor's space has revoked this pass."),
    "unknown_space": N_("This pass is from a space this node does not know yet."),
    "own_member": N_("This pass is one of our own members': they need no visa here."),
    "space_not_accepted": N_("Our visa policy does not accept visitors from this space."),
    "quota_exceeded": N_("The visitor has used all the free days our policy gives this month."),
    "not_in_standing": N_("The visitor's space says this pass is not in good standing."),
    "home_unreachable": N_("The visitor's space cannot be reached, and our policy is to refuse then."),
    "already_checked_in": N_("This visitor is checked in already."),
}
FLAGS: Final = {"overrun": N_("over the free days"), "not_in_standing": N_("not in good standing")}
# What wakes the live parts of these pages: the visa books, and members' names shown beside them.
WAKES: Final = (CHANGED, MEMBERS_CHANGED)


def _live_url(request: web.Request) -> str:
    """The page's stream (node/web/live.py), with the page's own query (the month)."""
    return "/live" + request.path_qs


def _month(request: web.Request, t: Translator) -> str:
    m = request.query.get("month", "")
    if len(m) == 7 and m[4] == "-" and m[:4].isdigit() and m[5:].isdigit() and 1 <= int(m[5:]) <= 12:
        return m
    return t.local(dt.datetime.now(dt.UTC)).strftime("%Y-%m")


def _when(t: Translator, v: dict[str, Any]) -> dict[str, Any]:
    out = dict(v)
    out["in_at"] = t.datetime(v["checked_in_at"], "short")
    out["out_at"] = t.time(v["checked_out_at"]) if v["checked_out_at"] else ""
    out["flag_words"] = [t.gettext(FLAGS[f]) for f in v["flags"] if f in FLAGS]
    return out


async def front_desk(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    errors: dict[str, str] = {}
    typed = ""
    if request.method == "POST":
        form = await request.post()
        typed = str(form.get("pass", ""))
        try:
            visit = await desk.check_in(node, typed)
        except HitodeError as e:
            words = REFUSALS.get(e.code)
            errors["pass"] = t.gettext(words) if words else e.message
        else:
            raise web.HTTPSeeOther(f"/visits?checked_in={visit.record_id}")
    month = _month(request, t)
    names = await passes.holders(node.store)
    people = {m["id"]: m["name"] for m in await members.listing(node.store)}  # our own members, shown here only
    book = [{**_when(t, v), "member_name": people.get(v["member"], v["member"])}
            for v in await books.listing(node.store, node.space, month=month, names=names)]
    policy = await desk.policy_of(node)
    return {
        "errors": errors, "typed": typed, "month": month, "policy": policy, "live_url": _live_url(request),
        "checked_in": request.query.get("checked_in", ""),
        "here": [_when(t, v) for v in await books.here_now(node.store, node.space)],
        "hosted": [v for v in book if v["direction"] == "hosted"],
        "sent": [v for v in book if v["direction"] == "sent"],
        "refusals": [{**r, "when": t.datetime(r["at"], "short"),
                      "words": t.gettext(REFUSALS[r["code"]]) if r["code"] in REFUSALS else r["message"]}
                     for r in await books.refusals(node.store, 10)],
    }


async def check_out(node: Context, request: web.Request) -> PageResult:
    try:
        await desk.check_out(node, request.match_info["id"])
    except HitodeError:
        pass  # checked out already, or gone: the page shows how things stand
    raise web.HTTPSeeOther("/visits")


async def settlement_page(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    month = _month(request, t)
    result = await desk.cross_check(node, await settlement.settle(node.store, node.space, month))
    months = settlement.months_back(month, 6)
    series: dict[str, dict[str, tuple[int, int]]] = {}
    for m in months:
        for p in (await settlement.settle(node.store, node.space, m))["partners"]:
            series.setdefault(p["space"], {})[m] = (p["visits_in"], p["visits_out"])
    svg = settlement.chart([{"space": s, "counts": c} for s, c in sorted(series.items())], months,
                           title=t.gettext("Visits in and out per partner space, last six months"),
                           label_in=t.gettext("in (visitors hosted here)"),
                           label_out=t.gettext("out (our members elsewhere)"))
    return {"month": month, "result": result, "chart": Markup(svg), "previous": settlement.months_back(month, 2)[0]}


async def settlement_csv(node: Context, request: web.Request) -> PageResult:
    month = _month(request, translator(request))
    result = await settlement.settle(node.store, node.space, month)
    return web.Response(text=settlement.to_csv(result), content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="settlement-{node.space}-{month}.csv"'})


async def pass_holders(node: Context, request: web.Request) -> PageResult:
    listed = await members.listing(node.store)
    counts = {r[0]: int(r[1]) for r in await node.store.all(
        "SELECT member_id, count(*) FROM visa_passes WHERE revoked_at IS NULL AND expires_at > ? GROUP BY member_id",
        (dt.datetime.now(dt.UTC).timestamp(),))}
    days = await books.days_used(node.store, node.space, _month(request, translator(request)))
    return {"members": [{"id": m["id"], "name": m["name"], "active": counts.get(m["id"], 0),
                         "days": days.get(m["id"], 0)} for m in listed], "live_url": _live_url(request)}


async def member_passes(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    member_id = request.match_info["id"]
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.post()
        try:
            days = int(str(form.get("days", "90")))
            if not 1 <= days <= 400:
                raise ValueError
        except ValueError:
            errors["days"] = t.gettext("Days valid: a whole number from 1 to 400.")
        else:
            p = await passes.issue(node.store, node.ident, secret_of(node.data_dir), member_id, PassInput(days=days))
            raise web.HTTPSeeOther(f"/members/{member_id}/passes?issued={p['id']}")
    member = await members.get(node.store, member_id)
    listed = [{**p, "issued": t.date(p["issued_at"], "medium"), "expires": t.date(p["expires_at"], "medium")}
              for p in await passes.listing(node.store, member_id)]
    shown = next((p for p in listed if p["state"] == "active"), None)
    month = _month(request, t)
    visits = [_when(t, v) for v in await books.of_member(node.store, node.space, member_id, month)]
    return {
        "member": member, "errors": errors, "issued": request.query.get("issued", ""), "passes": listed,
        "shown": shown, "qr": Markup(passes.qr(shown["text"])["svg"]) if shown else "", "month": month,
        "visits": visits, "days_used": len({(v["host"], v["day"]) for v in visits}), "live_url": _live_url(request),
    }


async def revoke(node: Context, request: web.Request) -> PageResult:
    member_id = request.match_info["id"]
    try:
        await passes.revoke(node.store, node.ident, request.match_info["pass"], member_id=member_id)
    except HitodeError:
        pass  # revoked already: the page shows it
    raise web.HTTPSeeOther(f"/members/{member_id}/passes")


async def pass_png(node: Context, request: web.Request) -> PageResult:
    p = await passes.get(node.store, request.match_info["pass"], member_id=request.match_info["id"])
    return web.Response(body=base64.b64decode(passes.qr(p["text"])["png"]), content_type="image/png", headers={
        "Content-Disposition": f'attachment; filename="visa-pass-{p["id"]}.png"'})


async def visitors_panel(node: Context, request: web.Request) -> dict[str, Any]:
    """The today page's panel: visa visitors here now, and how many visits this month."""
    t = translator(request)
    month = _month(request, t)
    here = [_when(t, v) for v in await books.here_now(node.store, node.space)]
    hosted = int(await node.store.scalar("SELECT count(*) FROM visits WHERE host = ? AND month = ?",
                                         (node.space, month)) or 0)
    return {"here": here, "hosted": hosted}


PANEL: Final = Panel(name="visitors", template="visas/panel_visitors.html", load=visitors_panel, order=20)


async def honoured_panel(node: Context, request: web.Request) -> dict[str, Any]:
    """The directory's panel: per space, the visa visits it published it hosted lately."""
    months = settlement.months_back(_month(request, translator(request)), 3)
    return {"honoured": await settlement.honoured(node.store, months), "months": months}


HONOURED: Final = Panel(name="honoured", template="visas/panel_honoured.html", load=honoured_panel,
                        page="/federation")

MEMBER: Final = "/members/{id:[A-Za-z0-9._:-]+}/passes"
PASS: Final = "{pass:[0-9a-f]+}"

PAGES: Final = (
    Page(path="/visits", handler=front_desk, template="visas/visits.html", nav=N_("Visits"), order=40,
         live=(("visits-live", "visas/visits_live.html"),), wakes=WAKES),
    Page(path="/visits", method="POST", handler=front_desk, template="visas/visits.html"),
    Page(path="/visits/{id:[A-Za-z0-9._:-]+}/checkout", method="POST", handler=check_out,
         template="visas/visits.html"),
    Page(path="/settlement", handler=settlement_page, template="visas/settlement.html", nav=N_("Settlement"),
         order=45),
    Page(path="/settlement.csv", handler=settlement_csv, template="visas/settlement.html"),
    Page(path="/passes", handler=pass_holders, template="visas/holders.html", nav=N_("Visa passes"), order=46,
         live=(("holders-live", "visas/holders_live.html"),), wakes=WAKES),
    Page(path=MEMBER, handler=member_passes, template="visas/passes.html",
         live=(("pass-current", "visas/pass_current.html"), ("passes-live", "visas/passes_live.html")), wakes=WAKES),
    Page(path=MEMBER, method="POST", handler=member_passes, template="visas/passes.html"),
    Page(path=MEMBER + "/" + PASS + "/revoke", method="POST", handler=revoke, template="visas/passes.html"),
    Page(path=MEMBER + "/" + PASS + ".png", handler=pass_png, template="visas/passes.html"),
)
