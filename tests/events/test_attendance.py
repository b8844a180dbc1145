"""The attendance chart on the today page (issue 18): per past event of this space, the
people confirmed, drawn as SVG by the node (no script), said again in words and a table."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from node.bus.embedded import EmbeddedNats
from node.events.attendance import chart
from node.web.i18n import Translator
from schemas.event import Event
from tests.events.operator import operator
from tests.spaces import Space, spaces_for


@pytest_asyncio.fixture
async def kobe(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Space]:
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (space,):
        yield space


def _at(days: int) -> dt.datetime:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).replace(microsecond=0)


def test_bars_stand_on_one_scale_with_a_round_top_and_the_newest_events_are_kept() -> None:
    past = [Event(id=f"e{i}", space="kobe", title=f"Jelly {i}", start=_at(-100 + i), end=_at(-100 + i) + dt.timedelta(hours=2),
                  confirmed=i, capacity=12 if i == 3 else None) for i in range(15)]
    c = chart(past, Translator("en", "Asia/Tokyo"))
    assert [b["title"] for b in c["bars"]] == [f"Jelly {i}" for i in range(3, 15)]  # the 12 newest
    assert [t["v"] for t in c["ticks"]] == [0, 10, 20]  # 14 people: the scale tops at 20
    heights = {b["n"]: b["h"] for b in c["bars"]}
    assert heights[14] == 2 * heights[7] and all(b["y"] + b["h"] == c["base"] for b in c["bars"])
    assert c["bars"][0]["cap_y"] is not None and c["bars"][1]["cap_y"] is None
    assert c["best"] == {"title": "Jelly 14", "n": 14} and c["total"] == sum(range(3, 15))
    assert chart([], Translator("ja", "Asia/Tokyo"))["bars"] == []


async def test_kobes_today_page_draws_who_came_to_its_past_events(kobe: Space) -> None:
    """Two events filled over the API, then moved into the past: two bars, the figures in the
    chart's description and in the table, in Japanese; the SVG has no script or style."""
    people = [await kobe.post("/api/members", {"name": f"会員 {i}", "share_name": True}) for i in range(3)]
    made = []
    for n, title in ((3, "ジェリー会"), (1, "もくもく会")):
        e = await kobe.post("/api/events", {"title": title, "start": _at(1).isoformat(), "end": _at(2).isoformat(), "capacity": 5})
        for p in people[:n]:
            await kobe.post(f"/api/events/{e['id']}/rsvps", {"member": p["id"]})
        made.append(e)
    for i, e in enumerate(made):  # the host moves them to when they really were
        await kobe.request("PATCH", f"/api/events/{e['id']}", {"start": _at(-20 + i).isoformat(),
                                                             "end": (_at(-20 + i) + dt.timedelta(hours=2)).isoformat()})
    async with operator(kobe, "ja") as op:
        html = await op.page("/")
    panel = html[html.index('id="panel-attendance"'):]
    panel = panel[:panel.index("</section>")]
    svg = panel[panel.index("<svg"):panel.index("</svg>")]
    assert 'role="img"' in svg and 'aria-labelledby="attendance-title attendance-desc"' in svg
    assert "<script" not in svg and "style=" not in svg
    assert len(re.findall(r'<rect class="bar"', svg)) == 2 and len(re.findall(r'<rect class="cap"', svg)) == 2
    assert "過去のイベント 2 件、参加者は合計 4 人、1 回あたり平均 2.0 人。" in svg
    assert "最も多かったのは ジェリー会（3 人）。" in svg
    rows = re.findall(r'<td data-label="イベント">([^<]+)</td>\s*<td data-label="人数">(\d+)</td>', panel)
    assert rows == [("ジェリー会", "3"), ("もくもく会", "1")]
