"""HTTP handlers for the directory: every space's profile, and editing this space's own.

GET → edit → PUT is what clients do: PUT takes the representation GET returns (read-only
fields unchanged), PATCH merges the fields given; both honour If-Match with the ETag GET
gave (`"v<version>"`), so an edit based on a stale read changes nothing (412).
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from node.context import Context
from node.errors import Conflict, PreconditionFailed
from node.web.conditional import etag, if_match
from node.web.payload import decode_body, json_response
from node.web.route import Route
from schemas.space import ProfileEdit, ProfilePut, SpaceProfile

__all__ = ["ROUTES"]

async def list_spaces(node: Context, request: web.Request) -> web.Response:
    return json_response({"spaces": await node.directory.spaces()})


async def get_space(node: Context, request: web.Request) -> web.Response:
    out = await node.directory.space(request.match_info["id"])
    return json_response(out, headers={"ETag": etag(out["version"])})


async def _answer(node: Context, profile_version: tuple[SpaceProfile, int]) -> web.Response:
    profile, version = profile_version
    out = node.directory.view(profile, version)
    return json_response(out, headers={"ETag": etag(version)})


async def put_space(node: Context, request: web.Request) -> web.Response:
    put = await decode_body(request, ProfilePut)
    current = await node.directory.space(node.space)
    # `online` is not refused: it is the bus's live state, not the profile's, and may turn
    # between a client's GET and its PUT (a node serves HTTP before its bus is up).
    given = {"id": put.id, "sign_key": put.sign_key, "box_key": put.box_key}
    for name, value in given.items():
        if value is not None and value != current[name]:
            raise Conflict(f"{name} is read-only here (it is {current[name]!r})", field=name)
    header = if_match(request)
    if header is not None:
        return await _answer(node, await node.directory.edit(put, expect=header))
    try:
        return await _answer(node, await node.directory.edit(put, expect=put.version))
    except PreconditionFailed as e:  # named in the body, not by If-Match: a conflict (409)
        raise Conflict(e.message, field="version") from None


async def patch_space(node: Context, request: web.Request) -> web.Response:
    edit = await decode_body(request, ProfileEdit)
    return await _answer(node, await node.directory.edit(edit, expect=if_match(request)))


EXAMPLE: Final = {"name": "Kobe Coworking", "hours": "Mon-Fri 9:00-21:00", "house_rules": "冷蔵庫のものには名前を。"}

ROUTES: Final = (
    Route(method="GET", path="/api/spaces", handler=list_spaces, summary="The federation directory"),
    Route(method="GET", path="/api/spaces/{id:[a-z0-9-]+}", handler=get_space, summary="One space's profile (ETag: its version)"),
    Route(method="PUT", path="/api/space", handler=put_space, summary="Edit this space's profile: the representation GET returns",
          private=True, body=ProfilePut, if_match=True, errors=(409,), example=EXAMPLE),
    Route(method="PATCH", path="/api/space", handler=patch_space, summary="Edit the given fields of this space's profile",
          private=True, body=ProfileEdit, if_match=True, example={"hours": "Mon-Sat 9:00-22:00"}),
)
