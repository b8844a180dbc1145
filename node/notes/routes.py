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
    Route(method="POST", path="/api/notes", handler=post_note, summary="Send a sealed note to another space (404: not in the directory)",
          private=True, body=NoteInput, status=201, errors=(404,),
          example={"to": "sapporo", "subject": "来月のJelly", "text": "同時開催しませんか?"}),
    Route(method="GET", path="/api/notes", handler=list_notes, summary="Notes sent and received", private=True),
)
