"""HTTP handlers for requests: post, list and search, local matches, offers, accept, close.

Open requests are public federation data (read without the token); matches name this
space's members and are the operator's only, as are the offers a request received.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from aiohttp import web

from node.context import Context
from node.members import rules as members
from node.members import skills
from node.requests import book, lifecycle, matching, offers
from node.web.payload import decode_body, decode_query, json_response, token_ok
from node.web.route import Route
from schemas.request import AcceptInput, CloseInput, OfferInput, RequestFilters, RequestInput, SynonymsInput

__all__ = ["ROUTES", "detail"]

ID: Final = "{id:[A-Za-z0-9._:-]+}"


def _secret(node: Context) -> bytes:
    return members.secret_of(node.data_dir)


async def list_requests(node: Context, request: web.Request) -> web.Response:
    f = decode_query(request, RequestFilters)
    found = await book.listing(node.store, f, dt.datetime.now(dt.UTC), await skills.load(node.store))
    return json_response({"requests": found})


async def post_request(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, RequestInput)
    out = await lifecycle.post(node.store, node.ident, _secret(node), inp, node.config.space.tz)
    return json_response(out, status=201)


async def detail(node: Context, request_id: str, *, private: bool) -> dict[str, Any]:
    """A request as this node sees it; with the token, the offers it received or sent."""
    req, version = await book.find(node.store, request_id)
    out = book.view(req, version, dt.datetime.now(dt.UTC))
    out["referred_by"] = await book.referred(node.store, request_id)
    if private:
        out["offers"] = (await offers.received(node.store, request_id, req.accepted) if req.space == node.space
                         else await offers.sent(node.store, node.space, request_id, req.accepted))
    return out


async def get_request(node: Context, request: web.Request) -> web.Response:
    return json_response(await detail(node, request.match_info["id"], private=token_ok(node.token, request)))


async def get_matches(node: Context, request: web.Request) -> web.Response:
    req, _ = await book.find(node.store, request.match_info["id"])
    found = await matching.matches(node.store, req, await skills.load(node.store))
    return json_response({"request": req.id, "matches": found})


async def post_offer(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, OfferInput)
    out = await offers.send(node.store, node.ident, _secret(node), request.match_info["id"], inp)
    return json_response(out, status=201)


async def post_accept(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, AcceptInput)
    return json_response(await lifecycle.accept(node.store, node.ident, request.match_info["id"], inp))


async def post_close(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, CloseInput)
    return json_response(await lifecycle.close(node.store, node.ident, request.match_info["id"], inp))


async def member_requests(node: Context, request: web.Request) -> web.Response:
    member = await members.get(node.store, request.match_info["id"])
    found = await matching.requests_for(node.store, member["id"], dt.datetime.now(dt.UTC))
    return json_response({"member": member["id"], "requests": found})


async def get_synonyms(node: Context, request: web.Request) -> web.Response:
    return json_response({"groups": (await skills.load(node.store)).groups()})


async def put_synonyms(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, SynonymsInput)

    def unit(tx: Any) -> skills.Synonyms:
        synonyms = skills.replace(tx, inp.groups)
        book.reindex_skills(tx, synonyms)
        return synonyms

    return json_response({"groups": (await node.store.transact(unit)).groups()})


ROUTES: Final = (
    Route(method="GET", path="/api/requests", handler=list_requests, query=RequestFilters,
          summary="Requests for help from every space (filters: status, kind, skill, region, space, text)"),
    Route(method="POST", path="/api/requests", handler=post_request, body=RequestInput, status=201, creates=True,
          summary="Post a request for help, for a member of this space or for the space",
          example={"kind": "help", "title": "ウェブサイト制作を手伝ってくれる人", "skills": ["web制作"],
                   "region": "神戸", "online_ok": True, "deadline": "2030-01-31T18:00:00+09:00", "reward": "paid"}),
    Route(method="GET", path=f"/api/requests/{ID}", handler=get_request,
          summary="One request (with the token: the offers it received, or this space's offers)"),
    Route(method="GET", path=f"/api/requests/{ID}/matches", handler=get_matches, private=True,
          summary="This space's members ranked against a request (never leaves the node)"),
    Route(method="POST", path=f"/api/requests/{ID}/offers", handler=post_offer, body=OfferInput, status=201,
          errors=(409,), summary="Offer a member, or refer the request to another space (sealed to the requester)",
          example={"member": "m1", "message": "札幌の会員がお手伝いできます"}),
    Route(method="POST", path=f"/api/requests/{ID}/accept", handler=post_accept, body=AcceptInput, errors=(403, 409),
          summary="Accept offers this space received for its request"),
    Route(method="POST", path=f"/api/requests/{ID}/close", handler=post_close, body=CloseInput, errors=(403, 409),
          summary="Close (or withdraw) this space's request, accepting offers on the way"),
    Route(method="GET", path="/api/members/{id:[A-Za-z0-9._:-]+}/requests", handler=member_requests, private=True,
          summary="The open requests a member of this space fits"),
    Route(method="GET", path="/api/skills/synonyms", handler=get_synonyms, private=True,
          summary="The skill synonym list (each group one skill)"),
    Route(method="PUT", path="/api/skills/synonyms", handler=put_synonyms, body=SynonymsInput,
          summary="Replace the skill synonym list", example={"groups": [["web development", "ウェブ制作", "web制作"]]}),
)
