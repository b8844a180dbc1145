"""JSON at the HTTP edge: input decoded once with errors naming the field, answers
encoded with msgspec, and the operator-token check. Shared by every handler module.
"""

from __future__ import annotations

import hmac
from typing import Any

import msgspec
from aiohttp import web

from node.errors import BadInput, Unauthorized, bad_input_from

__all__ = ["json_response", "decode_body", "token_ok", "authorize"]

def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), status=status, content_type="application/json")


async def decode_body(request: web.Request, type_: type[msgspec.Struct]) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise BadInput("the request needs a JSON body")
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as e:
        raise bad_input_from(e) from None
    except msgspec.DecodeError as e:
        raise BadInput(f"the body is not valid JSON: {e}") from None


def authorize(token: str, request: web.Request) -> None:
    given = request.headers.get("Authorization", "")
    if not given.lower().startswith("bearer "):
        raise Unauthorized("this needs the operator token: Authorization: Bearer <token>")
    if not token_ok(token, request):
        raise Unauthorized("the operator token is wrong")


def token_ok(token: str, request: web.Request) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
