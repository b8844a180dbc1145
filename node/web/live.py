"""Live parts of a page, sent as server-sent events: the operator's open page changes without
a reload when what it shows changes (a new event, a peer coming online, a backlog draining).

A page names its live parts (`Page.live`: element id → fragment template). Its stream,
`/live<path>`, runs the page's handler every few seconds for the signed-in operator,
renders each part, and sends those that changed as an event named by the element's id;
static/live.js puts them in place (no inline script: the CSP forbids it). The stream ends
when the session does and when the node stops (it must not hold the shutdown up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import aiohttp_jinja2
from aiohttp import web

from node.context import Context
from node.supervisor import woken
from node.web.page import Page

__all__ = ["stream_of", "STOPPING", "INTERVAL"]

INTERVAL: Final = 2.0  # seconds between looks; one operator, a few open pages
STOPPING: Final = web.AppKey("live_stopping", asyncio.Event)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _event(name: str, html: str) -> bytes:
    data = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {name}\n{data}\n".encode()


def stream_of(ctx: Context, page: Page, shell: Callable[[web.Request], Mapping[str, Any] | None],
              headers: Mapping[str, str]) -> Handler:
    """The SSE handler of `page`. `shell(request)` gives the layout's variables, or None
    when the request has no live session."""

    async def stream(request: web.Request) -> web.StreamResponse:
        if shell(request) is None:
            raise web.HTTPUnauthorized(reason="sign in first")
        response = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        await response.prepare(request)
        stopping, sent = request.app[STOPPING], dict[str, str]()
        while not stopping.is_set() and (variables := shell(request)) is not None:
            result = await page.handler(ctx, request)
            if isinstance(result, web.StreamResponse):
                break
            for element, template in page.live:
                html = aiohttp_jinja2.render_string(template, request, {**variables, **result})
                if sent.get(element) != html:
                    await response.write(_event(element, html))
                    sent[element] = html
            await woken(stopping, INTERVAL)
        return response

    return stream
