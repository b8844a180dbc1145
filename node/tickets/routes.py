"""HTTP handlers for common tickets: issue, list, redeem, and the policy for unconfirmed
tickets; the route table at the end. Everything here is the operator's (token)."""

from __future__ import annotations

import datetime as dt
from typing import Final

from aiohttp import web

from node.context import Context
from node.tickets import book
from node.tickets.issuing import issue_ticket
from node.tickets.redeem import redeem, refusal
from node.tickets.settler import Settler
from node.web.payload import decode_body, json_response
from node.web.route import Route
from schemas.ticket import PolicyInput, RedeemInput, TicketInput

__all__ = ["ROUTES"]


async def post_ticket(ctx: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, TicketInput)
    return json_response(await issue_ticket(ctx, inp), status=201)


async def list_tickets(ctx: Context, request: web.Request) -> web.Response:
    return json_response({
        "issued": await book.issued(ctx.store, ctx.space, dt.datetime.now(dt.UTC)),
        "redeemed_here": await book.attempts(ctx.store),
        "when_unconfirmed": await book.policy(ctx.store),
    })


async def post_redeem(ctx: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, RedeemInput)
    settler = ctx.part(Settler)
    out = await redeem(ctx, settler.ledger, inp.ticket, unsafe=await settler.safety())
    if (refused := refusal(out)) is not None:
        raise refused
    return json_response(out, status=201 if out["state"] == "redeemed" else 202)


async def get_policy(ctx: Context, request: web.Request) -> web.Response:
    return json_response({"when_unconfirmed": await book.policy(ctx.store)})


async def put_policy(ctx: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, PolicyInput)
    await ctx.store.transact(lambda tx: book.set_policy(tx, inp.when_unconfirmed))
    return json_response({"when_unconfirmed": inp.when_unconfirmed})


ROUTES: Final = (
    Route(method="POST", path="/api/tickets", handler=post_ticket, body=TicketInput, status=201,
          summary="Issue a common ticket (a free first day at any space): its text and QR code (SVG, PNG)",
          example={"valid_days": 90, "note": "Open day, December"}),
    Route(method="GET", path="/api/tickets", handler=list_tickets, private=True,
          summary="Tickets issued here (with what the federation knows of each) and redemptions attempted here"),
    Route(method="POST", path="/api/tickets/redeem", handler=post_redeem, body=RedeemInput, status=201,
          errors=(202, 409, 503),
          summary="Redeem a ticket by its text: 201 redeemed, 202 admitted as pending (the federation did not answer), "
                  "409 already redeemed (where, when), 503 unconfirmed and refused by this space's policy",
          example={"ticket": "HT1:6BFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N IOP-IA%NFQGRJPC%OQHIZC4.OI1RM8ZA*LPUY29+KCFF-+K*LPH*AMAK9OA7QVN1F3"}),
    Route(method="GET", path="/api/tickets/policy", handler=get_policy, private=True,
          summary="What this space does when the federation cannot confirm a ticket: admit (as pending) or refuse"),
    Route(method="PUT", path="/api/tickets/policy", handler=put_policy, body=PolicyInput,
          summary="Set what this space does when the federation cannot confirm a ticket",
          example={"when_unconfirmed": "admit"}),
)
