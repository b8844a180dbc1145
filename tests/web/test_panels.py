"""A feature puts a panel on the today page without the page naming it (issue 18).

A toy feature written in the tests folder brings two panels (its own template folder, a
loader over the node's context); a node composed with it shows them on today, in their
order among the other features' panels, and keeps them in the page's live fragment. A
panel whose loader fails is replaced by a short notice; the page still answers.
"""

from __future__ import annotations

import contextlib
import re
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
from node.feature import Feature, check_composition
from node.web.page import Panel


async def _count_spaces(ctx: Context, request: web.Request) -> Mapping[str, Any]:
    return {"spaces": len(await ctx.directory.spaces()), "who": ctx.space}


async def _broken(ctx: Context, request: web.Request) -> Mapping[str, Any]:
    raise RuntimeError("the toy panel's loader broke")


def _toy(templates: Path) -> Feature:
    folder = templates / "toy_panels"
    folder.mkdir(parents=True)
    (folder / "count.html").write_text(
        '<section class="card" id="{{ panel_id }}"><h2>{{ _("Today") }}: toy</h2>'
        '<p class="toy-count">{{ who }} knows {{ spaces }} space(s)</p></section>')
    return Feature(name="toy_panels", templates=folder, panels=(
        Panel(name="toy-count", template="toy_panels/count.html", load=_count_spaces, order=5),
        Panel(name="toy-broken", template="toy_panels/count.html", load=_broken, order=99),
    ))


@contextlib.asynccontextmanager
async def _node(base: Path, nats_url: str, extra: Feature) -> AsyncIterator[Node]:
    init_space(base / "kobe", space="kobe", name="Kobe", http_port=0, nats_urls=[nats_url])
    async with Node(base / "kobe", load_config(base / "kobe"), features=(*DEFAULT, extra)) as node:
        yield node


async def _signed_in(http: aiohttp.ClientSession, node: Node) -> None:
    async with http.post(node.http_url + "/signin", data={"token": node.token}, allow_redirects=False) as r:
        assert r.status == 303


async def test_a_toy_features_panel_appears_on_today_in_its_order_and_a_broken_one_does_not_break_the_page(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """kobe runs the toy feature: today shows its panel before the events feature's RSVPs
    panel (order 5 < 10), in the live fragment too; the broken panel is a notice, in English
    and in Japanese, and the rest of the page is there."""
    async with _node(tmp_path, nats_server.client_url, _toy(tmp_path / "tpl")) as node, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await _signed_in(http, node)
        async with http.get(node.http_url + "/", headers={"Accept-Language": "en"}) as r:
            assert r.status == 200
            html = await r.text()
        assert re.search(r'<p class="toy-count">kobe knows 1 space\(s\)</p>', html)
        assert html.index('id="panel-toy-count"') < html.index('id="panel-rsvps"') < html.index('id="panel-toy-broken"')
        assert "This part of the page could not be loaded" in html
        assert "Federation health" in html
        async with http.get(node.http_url + "/", headers={"Accept-Language": "ja"}) as r:
            assert "このページのこの部分を読み込めませんでした" in await r.text()
        async with http.get(node.http_url + "/live/") as r:  # the SSE stream carries the panels too
            first = (await r.content.readuntil(b"\n\n")).decode()
        assert first.startswith("event: today-live\n") and "toy-count" in first


def test_two_panels_of_one_name_are_refused_when_the_node_is_composed() -> None:
    """Each panel's name is an element id on the page: a second one of the same name is refused."""
    async def nothing(ctx: Context, request: web.Request) -> Mapping[str, Any]:
        return {}

    a = Feature(name="a", panels=(Panel(name="same", template="a/x.html", load=nothing),))
    b = Feature(name="b", panels=(Panel(name="same", template="b/x.html", load=nothing),))
    with pytest.raises(ValueError, match="panel name 'same' is taken"):
        check_composition([a, b])
