"""JSON at the HTTP edge: input decoded once, cleaned, and validated with errors naming the
field; answers encoded with msgspec; the operator-token check. Shared by every handler.

Input is read as plain JSON first, then cleaned where text enters the node: every string
NFC-normalised and its line ends made `\\n`, a lone surrogate refused by name (msgspec's
own decoder would only say "truncated"), and a number like 15.0 given for an integer taken
as 15 (JSON Schema calls it an integer too). Then msgspec converts it to the route's Struct,
which holds the rules (schemas/text.py for text).
"""

from __future__ import annotations

import hmac
import json
import math
import unicodedata
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
import msgspec.inspect
from aiohttp import web

from node.errors import BadInput, Unauthorized, bad_input_from

__all__ = ["json_response", "decode_body", "decode_query", "clean", "token_ok", "authorize"]

T = TypeVar("T", bound=msgspec.Struct)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), status=status, content_type="application/json",
                        headers=headers)


def _no_constant(name: str) -> Any:
    raise BadInput(f"{name} is not a JSON number")


def clean(value: Any, path: str = "$") -> Any:
    """NFC text with `\\n` line ends, no lone surrogates, integral floats as ints."""
    if isinstance(value, str):
        if any("\ud800" <= c <= "\udfff" for c in value):
            raise BadInput("holds a lone surrogate (\\ud800-\\udfff), which is not a character",
                           field=path.removeprefix("$.") if path != "$" else None)
        return unicodedata.normalize("NFC", value.replace("\r\n", "\n"))
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, list):
        return [clean(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {clean(k, path): clean(v, f"{path}.{k}") for k, v in value.items()}
    return value


async def decode_body(request: web.Request, type_: type[T]) -> T:
    raw = await request.read()
    if not raw.strip():
        raise BadInput("the request needs a JSON body")
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise BadInput(f"the body is not valid JSON: {e}") from None
    try:
        return msgspec.convert(clean(data), type_)
    except msgspec.ValidationError as e:
        raise bad_input_from(e) from None


def decode_query(request: web.Request, type_: type[T], *, known_only: bool = True) -> T:
    """Query parameters into a Struct. Unknown names are dropped (calendar apps and link
    trackers add their own, `utm_source=…`); the known ones are checked by name."""
    numbers = _integer_fields(type_)
    fields = {f.encode_name for f in msgspec.structs.fields(type_)}
    given: dict[str, Any] = {k: clean(v, f"$.{k}") for k, v in request.query.items() if not known_only or k in fields}
    for name in numbers & given.keys():
        try:
            given[name] = int(given[name])
        except ValueError:
            raise BadInput(f"{name} must be a whole number", field=name) from None
    try:
        # Strict: a time is an RFC 3339 string, never a number read as a Unix timestamp.
        return msgspec.convert(given, type_)
    except msgspec.ValidationError as e:
        raise bad_input_from(e) from None


def _integer_fields(type_: type[msgspec.Struct]) -> set[str]:
    """The query fields that are whole numbers (the one thing a query string must convert)."""
    out = set()
    for f in msgspec.inspect.type_info(type_).fields:  # type: ignore[attr-defined]
        t = f.type
        kinds = t.types if isinstance(t, msgspec.inspect.UnionType) else (t,)
        if any(isinstance(k, msgspec.inspect.IntType) for k in kinds):
            out.add(f.encode_name)
    return out


def authorize(token: str, request: web.Request) -> None:
    given = request.headers.get("Authorization", "")
    if not given.lower().startswith("bearer "):
        raise Unauthorized("this needs the operator token: Authorization: Bearer <token>")
    if not token_ok(token, request):
        raise Unauthorized("the operator token is wrong")


def token_ok(token: str, request: web.Request) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
