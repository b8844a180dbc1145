"""The HTTP edge: the routes the node is given, what HTTP itself asks of them, errors once.

Every route is declared once (a `Route`, by the kernel or by a feature); the OpenAPI
document is generated from the same table, and the edge enforces what it declares before
the handler runs: the operator token (401 with `WWW-Authenticate`), a JSON body (415),
and after it: an ETag on public reads, 304 when the client holds that representation,
`Cache-Control`. Every error is `{"error": {code, message, field?}}`, 404/405/413/415
included, and a 405 says what is allowed. No CORS headers: the API is for the operator's
own pages and scripts (DESIGN §7). The dashboard's pages (HTML, behind sign-in) are mounted
beside the API by shell.py and are not part of its document.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from node.context import Context
from node.errors import HitodeError, UnsupportedMediaType
from node.web.conditional import not_modified
from node.web.openapi import document
from node.web.page import Page, Panel
from node.web.payload import authorize, json_response
from node.web.route import JSON, Route
from node.web.shell import error_page, guard, mount, wants_page

__all__ = ["make_app", "OPENAPI"]

log = logging.getLogger(__name__)
OPENAPI: Final = web.AppKey("openapi", dict[str, Any])  # generated once, from the routes served
_CODES: Final = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
                 415: "unsupported_media_type"}
_KEEP: Final = ("Allow",)


def _error(status: int, body: dict[str, str], headers: dict[str, str] | None = None,
           request: web.Request | None = None) -> web.Response:
    if request is not None and wants_page(request) and status != 401:
        page = error_page(request, status, body.get("message", ""))
        page.headers.update(headers or {})
        return page
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="hitode"'
    headers.setdefault("Cache-Control", "no-store")
    return json_response({"error": body}, status=status, headers=headers)


@web.middleware
async def errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except HitodeError as e:
        return _error(e.status, e.to_dict(), request=request)
    except web.HTTPException as e:
        if e.status >= 400:
            code = _CODES.get(e.status, "http_error")
            message = e.reason if e.status != 405 else f"{request.method} is not allowed here; allowed: {e.headers.get('Allow', '')}"
            return _error(e.status, {"code": code, "message": message},
                          {k: e.headers[k] for k in _KEEP if k in e.headers}, request=request)
        raise
    except Exception:
        log.exception("http: %s %s failed", request.method, request.path)
        return _error(500, {"code": "internal", "message": "the node failed on this request; see its log"},
                      request=request)


@web.middleware
async def forwarded_proto(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Behind a trusted TLS proxy: the scheme the client used, from X-Forwarded-Proto (the
    last hop's value, the one our proxy wrote), so `request.secure` and the Origin check
    see https."""
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    if proto in ("http", "https") and proto != request.scheme:
        request = request.clone(scheme=proto)
    return await handler(request)


def make_app(ctx: Context, routes: Sequence[Route], pages: Sequence[Page] = (),
             templates: Mapping[str, Path] | None = None, panels: Sequence[Panel] = (),
             static: Mapping[str, Path] | None = None) -> web.Application:
    """The API's routes, and the dashboard (pages and panels with their templates, and the
    features' static files: feature → folder)."""
    behind = [forwarded_proto] if ctx.config.http.trusted_proxy else []
    app = web.Application(middlewares=[*behind, guard, errors], client_max_size=256 * 1024)
    app[OPENAPI] = document(routes)
    for route in routes:
        app.router.add_route(route.method, route.path, _bind(ctx, route))
    mount(app, ctx, pages, dict(templates or {}), panels, dict(static or {}))
    return app


def _bind(ctx: Context, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        if route.needs_token:
            authorize(ctx.token, request)
        if route.body is not None and request.content_type != JSON:
            raise UnsupportedMediaType(f"send the body as {JSON}, not {request.content_type or 'nothing'}")
        response = await route.handler(ctx, request)
        if route.private or route.needs_token:
            response.headers.setdefault("Cache-Control", "no-store")
        elif route.cacheable and isinstance(response, web.Response) and response.status == 200:
            return not_modified(request, response)
        return response

    return handle
