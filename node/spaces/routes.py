"""HTTP handlers for the directory: every space's profile, and editing this space's own."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from node.context import Context
from node.web.payload import decode_body, json_response
from node.web.route import Route
from schemas.space import ProfileEdit

__all__ = ["ROUTES"]


async def list_spaces(node: Context, request: web.Request) -> web.Response:
    return json_response({"spaces": await node.directory.spaces()})


async def get_space(node: Context, request: web.Request) -> web.Response:
    return json_response(await node.directory.space(request.match_info["id"]))


async def put_space(node: Context, request: web.Request) -> web.Response:
    edit = await decode_body(request, ProfileEdit)
    profile, version = await node.directory.edit(edit)
    return json_response(node.directory.view(profile, version))


ROUTES: Final = (
    Route("GET", "/api/spaces", list_spaces, "The federation directory"),
    Route("GET", "/api/spaces/{id}", get_space, "One space's profile"),
    Route("PUT", "/api/space", put_space, "Edit this space's profile", private=True, body=ProfileEdit),
)
