"""HTTP handlers for visa passes, visits and the settlement; the route table at the end.

Everything here is the operator's (token): passes are members' data, visits are books.
The honoured counts are public: they are what every space published about itself.
"""

from __future__ import annotations

import base64
import datetime as dt
from zoneinfo import ZoneInfo
from typing import Annotated, Any, Final, Literal

import msgspec
from aiohttp import web

from node.context import Context
from node.members.rules import secret_of
from node.visas import books, desk, passes, settlement
from node.web.payload import decode_body, decode_query, json_response
from node.web.route import CSV, PNG, SVG, Route
from schemas.ids import SpaceId
from schemas.visa import CheckInInput, Month, PassInput, Visit

__all__ = ["ROUTES", "VisitsQuery", "SettlementQuery", "visit_view"]

MEMBER: Final = "{id:[A-Za-z0-9._:-]+}"
PASS: Final = "{id:[A-Za-z0-9]+}"  # 16 hex digits; anything else is 404 from the handler


class VisitsQuery(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    direction: Literal["hosted", "sent"] | None = None
    month: Month | None = None
    space: SpaceId | None = None


class SettlementQuery(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    month: Month | None = None
    # Ask each partner now for its side and show both books' differences (JSON only).
    check: Literal["true", "false"] = "false"


class HonouredQuery(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    months: Annotated[int, msgspec.Meta(ge=1, le=24)] = 3


def visit_view(v: Visit) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(v)
    out.pop("type", None)
    out["id"] = out.pop("record_id")
    out["host"] = out.pop("author")
    out["home"] = out.pop("to")
    return out


def this_month(node: Context) -> str:
    return dt.datetime.now(ZoneInfo(node.config.space.tz)).strftime("%Y-%m")


async def issue_pass(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, PassInput)
    p = await passes.issue(node.store, node.ident, secret_of(node.data_dir), request.match_info["id"], inp)
    return json_response({**p, **passes.qr(p["text"])}, status=201)


async def list_passes(node: Context, request: web.Request) -> web.Response:
    return json_response({"passes": await passes.listing(node.store, request.match_info["id"])})


async def revoke_pass(node: Context, request: web.Request) -> web.Response:
    return json_response(await passes.revoke(node.store, node.ident, request.match_info["id"]))


async def pass_png(node: Context, request: web.Request) -> web.Response:
    p = await passes.get(node.store, request.match_info["id"])
    return web.Response(body=base64.b64decode(passes.qr(p["text"])["png"]), content_type=PNG)


async def pass_svg(node: Context, request: web.Request) -> web.Response:
    p = await passes.get(node.store, request.match_info["id"])
    return web.Response(text=passes.qr(p["text"])["svg"], content_type=SVG)


async def post_visit(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, CheckInInput)
    return json_response(visit_view(await desk.check_in(node, inp.pass_)), status=201)


async def checkout(node: Context, request: web.Request) -> web.Response:
    return json_response(visit_view(await desk.check_out(node, request.match_info["id"])))


async def list_visits(node: Context, request: web.Request) -> web.Response:
    q = decode_query(request, VisitsQuery)
    return json_response({"visits": await books.listing(node.store, node.space, direction=q.direction,
                                                        month=q.month, space=q.space,
                                                        names=await passes.holders(node.store))})


async def list_refusals(node: Context, request: web.Request) -> web.Response:
    return json_response({"refusals": await books.refusals(node.store)})


def wants_csv(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return CSV in accept and "application/json" not in accept.split(",")[0]


async def get_settlement(node: Context, request: web.Request) -> web.Response:
    q = decode_query(request, SettlementQuery)
    result = await settlement.settle(node.store, node.space, q.month or this_month(node))
    if q.check == "true" and not wants_csv(request):
        result = await desk.cross_check(node, result)
    if wants_csv(request):
        return web.Response(text=settlement.to_csv(result), content_type=CSV, charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="settlement-{node.space}-{result["month"]}.csv"'})
    return json_response(result)


async def get_honoured(node: Context, request: web.Request) -> web.Response:
    q = decode_query(request, HonouredQuery)
    months = settlement.months_back(this_month(node), q.months)
    return json_response({"months": months, "spaces": await settlement.honoured(node.store, months)})


ROUTES: Final = (
    Route(method="POST", path=f"/api/members/{MEMBER}/passes", handler=issue_pass, body=PassInput, status=201,
          summary="Issue a Coworking Visa pass to a member: its text, and its QR code as SVG and PNG (base64)",
          example={"days": 90, "tier": "standard"}),
    Route(method="GET", path=f"/api/members/{MEMBER}/passes", handler=list_passes, private=True,
          summary="A member's visa passes"),
    Route(method="POST", path=f"/api/passes/{PASS}/revoke", handler=revoke_pass, errors=(409,),
          summary="Revoke a pass: its bit is set in the status list every host keeps"),
    Route(method="GET", path=f"/api/passes/{PASS}/qr.png", handler=pass_png, private=True, produces=PNG,
          summary="A pass's QR code as PNG"),
    Route(method="GET", path=f"/api/passes/{PASS}/qr.svg", handler=pass_svg, private=True, produces=SVG,
          summary="A pass's QR code as SVG"),
    Route(method="POST", path="/api/visits", handler=post_visit, body=CheckInInput, status=201,
          errors=(403, 409, 503),
          summary="Check a visitor in with their pass: verified offline, then with their home node, by this space's"
                  " policy. Refusals: token_malformed, token_tampered, token_foreign, token_expired, pass_revoked,"
                  " unknown_space, own_member, space_not_accepted, quota_exceeded, not_in_standing,"
                  " home_unreachable, already_checked_in",
          example={"pass": "HV1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH-R6IOOK.IR9B+9D"}),
    Route(method="POST", path="/api/visits/{id:[A-Za-z0-9._:-]+}/checkout", handler=checkout, errors=(409,),
          summary="Check a visitor out"),
    Route(method="GET", path="/api/visits", handler=list_visits, private=True, query=VisitsQuery,
          summary="The visit books: visitors hosted here, and this space's members hosted elsewhere"),
    Route(method="GET", path="/api/visits/refusals", handler=list_refusals, private=True,
          summary="Recent refused check-ins, for the operator"),
    Route(method="GET", path="/api/settlement", handler=get_settlement, private=True, query=SettlementQuery,
          also_produces=(CSV,),
          summary="Visits and visa days in and out per partner space for a month (JSON, or CSV by Accept);"
                  " check=true asks each partner for its books and lists the visits where they differ"),
    Route(method="GET", path="/api/visas/honoured", handler=get_honoured, query=HonouredQuery,
          summary="Per space, the visa visits it says it hosted in recent months (counts only)"),
)
