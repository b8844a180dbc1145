"""The HTTP edge: the routes the node is given, errors mapped once, reads from SQLite.

Every route is declared once (a `Route`, by the kernel or by a feature) with its input
type and whether it needs the operator token; the OpenAPI document is generated from the
same table. Public federation data may be read without the token; writes and private
data need it (DESIGN §7).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from aiohttp import web

from node.context import Context
from node.errors import HitodeError
from node.web.openapi import document
from node.web.payload import authorize, json_response
from node.web.route import Route

__all__ = ["make_app", "OPENAPI"]

log = logging.getLogger(__name__)
OPENAPI: Final = web.AppKey("openapi", dict[str, Any])  # generated once, from the routes served


def _error(e: HitodeError) -> web.Response:
    return json_response({"error": e.to_dict()}, status=e.status)


@web.middleware
async def errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except HitodeError as e:
        return _error(e)
    except web.HTTPException as e:
        if e.status >= 400:
            code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(e.status, "http_error")
            return json_response({"error": {"code": code, "message": e.reason}}, status=e.status)
        raise
    except Exception:
        log.exception("http: %s %s failed", request.method, request.path)
        return json_response({"error": {"code": "internal", "message": "the node failed on this request; see its log"}}, status=500)


def make_app(ctx: Context, routes: Sequence[Route]) -> web.Application:
    app = web.Application(middlewares=[errors], client_max_size=256 * 1024)
    app[OPENAPI] = document(routes)
    for route in routes:
        app.router.add_route(route.method, route.path, _bind(ctx, route))
    return app


def _bind(ctx: Context, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        if route.private or route.method != "GET":
            authorize(ctx.token, request)
        return await route.handler(ctx, request)

    return handle
