"""The dashboard's shell: templates, the layout's navigation, sign-in and sign-out, the
language switch, static files, and the guard every response passes (CSP, CSRF).

Pages come from the features (`Feature.pages`, templates under `<feature>/`); the shell
binds them behind sign-in and renders them with the request's `Translator`. Panels
(`Feature.panels`) are rendered here too, in order, for the page that places them
(`panels(ctx, request)`); one that fails shows a short notice instead, never the whole page
failing with it. What a browser
may do is narrowed by a strict Content-Security-Policy: scripts, styles and images only
from this node (/static/), no inline script or style, no framing, forms only to here.
CSRF: an unsafe request to a page is refused unless `Sec-Fetch-Site` says same-origin (or,
from a browser too old to send it, `Origin` names this node); with neither header, a form
must carry the session's token. The JSON API under /api/ keeps its Bearer token, which a
browser never attaches by itself, so it needs none of this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from node.context import Context
from node.web.i18n import COOKIE as LANG_COOKIE
from node.web.i18n import LANGUAGES, Translator, choose
from node.web.live import STOPPING, stream_of
from node.web.page import Page, Panel
from node.web.session import Sessions, SignInLimit

__all__ = ["mount", "guard", "translator", "render", "panels", "CSP"]

log = logging.getLogger(__name__)

HERE: Final = Path(__file__).parent
CSP: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
              "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_HEADERS: Final = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}
_SAFE: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_NAMES: Final = {"ja": "日本語", "en": "English"}  # each language named in itself
SESSIONS: Final = web.AppKey("sessions", Sessions)
LIMIT: Final = web.AppKey("signin_limit", SignInLimit)
NAV: Final = web.AppKey("nav", list[dict[str, str]])
PANELS: Final = web.AppKey("panels", tuple[Panel, ...])
TZ: Final = web.AppKey("tz", str)
SPACE: Final = web.AppKey("space", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


I18N: Final = web.RequestKey("i18n", Translator)


def translator(request: web.Request) -> Translator:
    got = request.get(I18N)
    if got is None:
        got = request[I18N] = Translator(choose(request), request.app[TZ])
    return got


def wants_page(request: web.Request) -> bool:
    """A browser navigating to a page (not the JSON API, not a feed): errors as HTML."""
    return not request.path.startswith("/api/") and "text/html" in request.headers.get("Accept", "")


def error_page(request: web.Request, status: int, detail: str) -> web.Response:
    """An error a browser shows the operator, in the operator's language (the API's stay JSON)."""
    t = translator(request)
    if status == 404:
        heading, message = t.gettext("Not found"), t.gettext("This page does not exist, or no longer exists.")
    elif status >= 500:
        heading, message = t.gettext("Something went wrong"), t.gettext("The node failed on this page; its log says why.")
    else:
        heading, message = t.gettext("Refused"), t.gettext("This request was refused.")
    return render(request, "error.html", {"heading": heading, "message": message, "detail": detail}, status=status)


def _page_path(request: web.Request) -> bool:
    return not request.path.startswith("/api/")


def _cross_site(request: web.Request) -> str | None:
    """Why an unsafe request is not from this node's own pages; None when it is."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return None if site == "same-origin" else f"Sec-Fetch-Site: {site}"
    origin = request.headers.get("Origin")
    if origin is not None:
        return None if origin == f"{request.scheme}://{request.host}" else f"Origin: {origin}"
    return None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer; cross-site unsafe requests to pages refused (403)."""
    if request.method not in _SAFE and _page_path(request) and (why := _cross_site(request)):
        t = translator(request)
        response: web.StreamResponse = render(
            request, "error.html", {"message": t.gettext("This form was sent from another site, so it was refused."),
                                    "detail": why}, status=403)
    else:
        response = await handler(request)
    if not response.prepared:  # a stream (live.py) sent its headers itself
        for k, v in _HEADERS.items():
            response.headers.setdefault(k, v)
    return response


def _local(next_: str) -> str:
    """A path on this node to go back to; anything else (another host) becomes /."""
    return next_ if next_.startswith("/") and not next_.startswith(("//", "/\\")) else "/"


def _shell(request: web.Request) -> dict[str, Any]:
    """The layout's variables: the request's translator, language, session, navigation."""
    t = translator(request)
    other = LANGUAGES[1] if t.lang == LANGUAGES[0] else LANGUAGES[0]
    csrf = request.app[SESSIONS].csrf(request)
    return {"t": t, "_": t.gettext, "gettext": t.gettext, "ngettext": t.ngettext, "lang": t.lang,
             "other_lang": other, "other_lang_name": _NAMES[other], "space": request.app[SPACE],
             "path": request.path, "here": quote(request.path_qs, safe="/"), "csrf": csrf or "",
             "signed_in": csrf is not None, "nav": request.app[NAV]}


def _signed_in_shell(request: web.Request) -> dict[str, Any] | None:
    shell = _shell(request)
    return shell if shell["signed_in"] else None


def render(request: web.Request, template: str, variables: dict[str, Any], status: int = 200) -> web.Response:
    """A template with the shell's variables around the page's own."""
    response = aiohttp_jinja2.render_template(template, request, {**_shell(request), **variables}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def panels(ctx: Context, request: web.Request, page: str = "/") -> list[Markup]:
    """Every feature's panel for `page` rendered for this request, in order (by default
    the today page's)."""
    out = []
    for panel in (p for p in request.app[PANELS] if p.page == page):
        try:
            variables = {**_shell(request), **await panel.load(ctx, request), "panel_id": f"panel-{panel.name}"}
            html = aiohttp_jinja2.render_string(panel.template, request, variables)
        except Exception:
            log.exception("dashboard: the panel %r failed", panel.name)
            message = translator(request).gettext("This part of the page could not be loaded; the node's log says why.")
            html = Markup('<section class="card" id="panel-{}"><p class="error">{}</p></section>').format(panel.name, message)
        out.append(Markup(html))
    return out


def _bind(ctx: Context, page: Page) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        csrf = request.app[SESSIONS].csrf(request)
        if csrf is None:
            raise web.HTTPSeeOther("/signin?next=" + quote(request.path_qs, safe="/"))
        if request.method not in _SAFE and "Sec-Fetch-Site" not in request.headers and "Origin" not in request.headers:
            if (await request.post()).get("csrf") != csrf:
                raise web.HTTPForbidden(reason="the form's token is missing or stale; load the page again")
        result = await page.handler(ctx, request)
        if isinstance(result, web.StreamResponse):
            return result
        return render(request, page.template, dict(result), status=422 if result.get("errors") else 200)

    return handle


async def _signin_form(request: web.Request) -> web.StreamResponse:
    if request.app[SESSIONS].csrf(request) is not None:
        raise web.HTTPSeeOther(_local(request.query.get("next", "/")))
    return render(request, "signin.html", {"next": _local(request.query.get("next", "/"))})


async def _signin(request: web.Request) -> web.StreamResponse:
    t, form = translator(request), await request.post()
    who, next_ = request.remote or "?", _local(str(form.get("next", "/")))
    limit, sessions = request.app[LIMIT], request.app[SESSIONS]
    if limit.blocked(who):
        error, status = t.gettext("Too many wrong tokens. Wait a few minutes, then try again."), 429
    elif not sessions.token_ok(str(form.get("token", ""))):
        limit.failed(who)
        error, status = t.gettext("That is not this node's operator token."), 401
    else:
        response = web.HTTPSeeOther(next_)
        sessions.open(response, request)
        raise response
    return render(request, "signin.html", {"next": next_, "error": error}, status=status)


async def _signout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/signin")
    request.app[SESSIONS].close(request, response)
    raise response


async def _language(request: web.Request) -> web.StreamResponse:
    lang = request.match_info["lang"]
    if lang not in LANGUAGES:
        raise web.HTTPNotFound()
    response = web.HTTPSeeOther(_local(request.query.get("next", "/")))
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax", path="/", secure=request.secure)
    raise response


def mount(app: web.Application, ctx: Context, pages: Sequence[Page], templates: dict[str, Path],
          panels: Sequence[Panel] = (), static: dict[str, Path] | None = None) -> None:
    """The shell and the features' pages and panels on `app` (templates: feature name → its
    folder), and each feature's static files at /static/<feature>/."""
    loader = jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(HERE / "templates"),
        jinja2.PrefixLoader({name: jinja2.FileSystemLoader(path) for name, path in templates.items()}),
    ])
    aiohttp_jinja2.setup(app, loader=loader, extensions=["jinja2.ext.i18n"], autoescape=True,
                         undefined=jinja2.StrictUndefined)
    app[SESSIONS] = Sessions(ctx.token)
    app[LIMIT] = SignInLimit()
    app[TZ] = ctx.config.space.tz
    app[SPACE] = ctx.space
    app[PANELS] = tuple(sorted(panels, key=lambda p: (p.order, p.name)))
    app[NAV] = [{"path": p.path, "label": p.nav} for p in sorted(pages, key=lambda p: p.order) if p.nav]
    app.router.add_get("/signin", _signin_form)
    app.router.add_post("/signin", _signin)
    app.router.add_post("/signout", _signout)
    app.router.add_get("/lang/{lang}", _language)
    for name, folder in (static or {}).items():  # before the shell's own: the longer prefix first
        app.router.add_static(f"/static/{name}/", folder, append_version=False)
    app.router.add_static("/static/", HERE / "static", append_version=False)
    app[STOPPING] = asyncio.Event()

    async def stopping(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(stopping)
    for page in pages:
        app.router.add_route(page.method, page.path, _bind(ctx, page))
        if page.live and page.method == "GET":
            app.router.add_get("/live" + page.path, stream_of(ctx, page, _signed_in_shell, _HEADERS))

