"""Imported feeds on the dashboard (issue 18): the operator adds a space's .ics feed through
the page (a wrong address is refused next to the field, in the operator's language, with
what was typed kept), reads every feed now, and sees each feed's last result."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from node.bus.embedded import EmbeddedNats
from tests.events.operator import operator
from tests.events.test_import import Feed, calendar, feed, vevent
from tests.spaces import Space, spaces_for

__all__ = ["feed"]  # the fixture, shared with the import scenarios


@pytest_asyncio.fixture
async def kobe(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Space]:
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (space,):
        yield space


async def test_the_operator_adds_a_feed_reads_it_again_and_sees_the_last_result(kobe: Space, feed: Feed) -> None:
    feed.body = calendar(vevent("a@kobe", "朝活", 9), vevent("b@kobe", "夜のジェリー", 19))
    async with operator(kobe, "ja") as op:
        assert "フィードはまだありません。" in await op.page("/calendar/feeds")
        _, page = await op.form("/calendar/feeds", {"url": feed.url.replace("events.ics", "missing.ics")}, status=422)
        error = re.search(r'<p class="error" id="e-url">([^<]+)</p>', page)
        assert error and error.group(1).startswith("今アクセスできる .ics カレンダー")
        assert 'value="' + feed.url.replace("events.ics", "missing.ics") + '"' in page
        _, page = await op.form("/calendar/feeds", {"url": ""}, status=422)
        assert 'id="e-url"' in page
        where, _ = await op.form("/calendar/feeds", {"url": feed.url})
        page = await op.page(where)
        assert "フィードを追加して読み込みました。" in page and feed.url in page and "フィード内のイベント 2 件" in page
        feed.body = calendar(vevent("a@kobe", "朝活", 9), vevent("b@kobe", "夜のジェリー", 19), vevent("c@kobe", "昼会", 12))
        where, _ = await op.form("/calendar/feeds/poll", {})
        page = await op.page(where)
        assert "新規 1 件、変更 0 件、削除 0 件" in page and "フィード内のイベント 3 件" in page
    listed = await kobe.get("/api/events?space=kobe")
    assert sorted(e["title"] for e in listed["events"]) == ["夜のジェリー", "昼会", "朝活"]
    async with operator(kobe, "en") as op:
        feed.body = b"not a calendar"
        where, _ = await op.form("/calendar/feeds/poll", {})
        page = await op.page(where)
        assert "Failed:" in page and "not an iCalendar feed" in page
