"""HTTP handlers for this space's members: all of it private to the node (DESIGN §6)."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from node.context import Context
from node.federation.outbox import new_id
from node.members import rules as members
from node.web.payload import decode_body, json_response
from node.web.route import Route
from schemas.member import MemberInput, MemberPatch

__all__ = ["ROUTES"]


async def list_members(node: Context, request: web.Request) -> web.Response:
    return json_response({"members": await members.listing(node.store)})


async def post_member(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, MemberInput)
    return json_response(await members.create(node.store, inp, new_id()), status=201)


async def get_member(node: Context, request: web.Request) -> web.Response:
    return json_response(await members.get(node.store, request.match_info["id"]))


async def patch_member(node: Context, request: web.Request) -> web.Response:
    p = await decode_body(request, MemberPatch)
    return json_response(await members.patch(node.store, request.match_info["id"], p))


ROUTES: Final = (
    Route(method="GET", path="/api/members", handler=list_members, summary="Members of this space", private=True),
    Route(method="POST", path="/api/members", handler=post_member, summary="Add a member", body=MemberInput, status=201,
          creates=True,
          example={"name": "山田 花子", "share_name": True, "skills": ["design", "ウェブ制作"]}),
    Route(method="GET", path="/api/members/{id:[A-Za-z0-9._:-]+}", handler=get_member, summary="One member", private=True),
    Route(method="PATCH", path="/api/members/{id:[A-Za-z0-9._:-]+}", handler=patch_member, summary="Edit a member", body=MemberPatch,
          example={"skills": ["design", "translation"]}),
)
