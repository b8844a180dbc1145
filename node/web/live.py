"""Live parts of a page, sent as server-sent events: the operator's open page changes without
a reload when what it shows changes (a new event, a peer coming online, a backlog draining).

A page names its live parts (`Page.live`: element id → fragment template). Its stream,
`/live<path>`, runs the page's handler for the signed-in operator, renders each part, and
sends those that changed as an event named by the element's id; static/live.js puts them
in place (no inline script: the CSP forbids it). A page that names no commit topics is
looked at every INTERVAL seconds. A page that names them (`Page.wakes`, topics its feature
notifies in the transactions that change what it shows) is rendered again as soon as such
a commit lands (under a stream of commits, about once a second at most), and otherwise only
every QUIET seconds, for what no commit announces (the month turning): an open page then costs nothing while nothing happens, and shows a change
at once. The stream ends when the session does, when the browser has gone, and when the
node stops (it must not hold the shutdown up).
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

__all__ = ["stream_of", "STOPPING", "INTERVAL", "QUIET", "SETTLE"]

INTERVAL: Final = 2.0  # seconds between looks; one operator, a few open pages
QUIET: Final = 30.0  # seconds between looks at a page its commit topics wake
SETTLE: Final = 0.2  # seconds a wake waits for the commits that come with it (a burst renders once)
STOPPING: Final = web.AppKey("live_stopping", asyncio.Event)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _event(name: str, html: str) -> bytes:
    data = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {name}\n{data}\n".encode()


async def _either(stopping: asyncio.Event, changed: asyncio.Event, timeout: float, settle: float = SETTLE) -> None:
    """Wait until the node stops, a commit wakes the page, or `timeout` seconds pass; after a
    wake, `settle` seconds more (the commits that come with it). Like supervisor.woken, it
    first honours a cancellation asked of this task and lost deeper down."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    waits = [asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(changed.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
    if changed.is_set():
        await woken(stopping, settle)


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
        stopping, sent, changed = request.app[STOPPING], dict[str, str](), asyncio.Event()
        loop = asyncio.get_running_loop()
        rendered = float("-inf")  # when the parts were last rendered
        unlisten = [ctx.store.on_commit(topic, changed.set) for topic in page.wakes]
        try:
            while not stopping.is_set() and (variables := shell(request)) is not None:
                if request.transport is None or request.transport.is_closing():
                    break  # the tab was closed: nobody reads on
                changed.clear()  # a commit from here on renders again
                result = await page.handler(ctx, request)
                if isinstance(result, web.StreamResponse):
                    break
                for element, template in page.live:
                    html = aiohttp_jinja2.render_string(template, request, {**variables, **result})
                    if sent.get(element) != html:
                        await response.write(_event(element, html))
                        sent[element] = html
                if page.wakes:
                    # A change after a quiet while shows at once; under a stream of commits
                    # (records applied one after another) a render that came soon after the
                    # one before makes the next wait out INTERVAL: about one a second at most.
                    now = loop.time()
                    soon, rendered = now - rendered < INTERVAL, now
                    await _either(stopping, changed, QUIET, settle=SETTLE)
                    if soon and (left := rendered + INTERVAL - loop.time()) > 0:
                        await woken(stopping, left)
                else:
                    await woken(stopping, INTERVAL)
        finally:
            for stop in unlisten:
                stop()
        return response

    return stream
