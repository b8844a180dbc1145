"""HTTP handlers for sealed notes between operators."""

from __future__ import annotations

from typing import Final

import msgspec
from aiohttp import web

from node.context import Context
from node.notes import rules as notes
from node.web.payload import decode_body, json_response
from node.web.route import Route
from schemas.note import NoteInput

__all__ = ["ROUTES"]


async def post_note(node: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, NoteInput)
    note = await notes.send(node.store, node.ident, inp)
    out = msgspec.to_builtins(note)
    out.pop("type", None)
    return json_response(out, status=201)


async def list_notes(node: Context, request: web.Request) -> web.Response:
    return json_response({"notes": await notes.listing(node.store, node.space)})


ROUTES: Final = (
    Route("POST", "/api/notes", post_note, "Send a sealed note to another space", private=True, body=NoteInput),
    Route("GET", "/api/notes", list_notes, "Notes sent and received", private=True),
)
