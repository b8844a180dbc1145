"""A page's live parts wake on its feature's commits (node/web/live.py, `Page.wakes`).

A toy feature written in the tests folder brings a page that counts the rows of its own
table and names its commit topic; a node composed with it streams the page's part, and a
commit that notifies the topic sends the part again, though the page would otherwise be
looked at only once an hour (QUIET raised for the test, so only the commit can have
woken it). A stream whose browser has gone stops listening at the next wake.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from node.app.features import DEFAULT
from node.app.node import Node
from node.app.setup import init_space
from node.bus.embedded import EmbeddedNats
from node.config import load_config
from node.context import Context
from node.feature import Feature
from node.store import Tx
from node.web import live
from node.web.page import Page
from tests.eventually import eventually

TOPIC = "toy_marks"


async def _marks(ctx: Context, request: web.Request) -> Mapping[str, Any]:
    return {"marks": int(await ctx.store.scalar("SELECT count(*) FROM toy_marks") or 0)}


def _toy(templates: Path) -> Feature:
    folder = templates / "toy_live"
    folder.mkdir(parents=True)
    (folder / "marks.html").write_text('{% extends "layout.html" %}{% block main %}<div id="marks-live" '
                                       'data-live="/live/toy">{% include "toy_live/part.html" %}</div>{% endblock %}')
    (folder / "part.html").write_text('<p class="marks">{{ marks }} mark(s)</p>')
    return Feature(name="toy_live", templates=folder, migrations=("CREATE TABLE toy_marks (n INTEGER);",), pages=(
        Page(path="/toy", handler=_marks, template="toy_live/marks.html",
             live=(("marks-live", "toy_live/part.html"),), wakes=(TOPIC,)),))


@contextlib.asynccontextmanager
async def _node(base: Path, nats_url: str, extra: Feature) -> AsyncIterator[Node]:
    init_space(base / "kobe", space="kobe", name="Kobe", http_port=0, nats_urls=[nats_url])
    async with Node(base / "kobe", load_config(base / "kobe"), features=(*DEFAULT, extra)) as node:
        yield node


def _mark(tx: Tx) -> None:
    tx.execute("INSERT INTO toy_marks (n) VALUES (1)")
    tx.notify(TOPIC)


async def _next_event(stream: aiohttp.ClientResponse) -> str:
    return (await asyncio.wait_for(stream.content.readuntil(b"\n\n"), timeout=60)).decode()


async def test_a_commit_on_the_pages_topic_sends_its_live_part_again_at_once(
        tmp_path: Path, nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch) -> None:
    """kobe's operator keeps the toy page open; each mark committed with the page's topic
    shows on it (1, then 2 marks) with no other look at the page due for an hour; once the
    tab is closed, the next commit ends its stream (even one that changes nothing on the
    page) and nothing listens any more."""
    monkeypatch.setattr(live, "QUIET", 3600.0)
    async with _node(tmp_path, nats_server.client_url, _toy(tmp_path / "tpl")) as node, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(node.http_url + "/signin", data={"token": node.token}, allow_redirects=False) as r:
            assert r.status == 303
        async with http.get(node.http_url + "/toy") as r:
            assert 'data-live="/live/toy"' in await r.text()
        listening = node.store._listeners  # the store's commit listeners: what an open stream holds
        async with http.get(node.http_url + "/live/toy") as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            assert await _next_event(stream) == 'event: marks-live\ndata: <p class="marks">0 mark(s)</p>\n\n'
            await node.store.transact(_mark)
            assert await _next_event(stream) == 'event: marks-live\ndata: <p class="marks">1 mark(s)</p>\n\n'
            await node.store.transact(_mark)
            assert await _next_event(stream) == 'event: marks-live\ndata: <p class="marks">2 mark(s)</p>\n\n'
            assert len(listening[TOPIC]) == 1
        # The tab is closed: this wake finds nobody reading (and nothing changed on the page,
        # so no write fails to tell the stream: it must see the closed connection itself).
        await node.store.transact(lambda tx: tx.notify(TOPIC))

        async def let_go() -> bool:
            return not listening.get(TOPIC)

        await eventually(let_go, timeout=30)


async def test_a_stream_of_commits_renders_the_open_page_about_once_a_second_not_once_each(
        tmp_path: Path, nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thirty marks committed one after another over three seconds (records applied one at a
    time look like this): the open page gets far fewer renders than commits, and the last
    render shows all thirty."""
    monkeypatch.setattr(live, "QUIET", 3600.0)
    async with _node(tmp_path, nats_server.client_url, _toy(tmp_path / "tpl")) as node, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(node.http_url + "/signin", data={"token": node.token}, allow_redirects=False) as r:
            assert r.status == 303
        async with http.get(node.http_url + "/live/toy") as stream:
            assert "0 mark(s)" in await _next_event(stream)
            events: list[str] = []

            async def read() -> None:
                while "30 mark(s)" not in (event := await _next_event(stream)):
                    events.append(event)
                events.append(event)

            reading = asyncio.create_task(read())
            for _ in range(30):
                await node.store.transact(_mark)
                await asyncio.sleep(0.1)
            await asyncio.wait_for(reading, timeout=60)
        assert len(events) <= 10, events
