"""The LAB's test federation: kobe, sapporo and hakodate as real nodes on one real
nats-server, and the discussion the issue describes, written over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.eventually import eventually
from tests.spaces import Space, converged, spaces_for

__all__ = ["Lab", "lab", "Discussion", "discuss", "shown", "REPORT"]

REPORT: dict[str, Any] = {
    "title": "学生半額デーの実験", "tried": "毎週金曜を学生半額にして、大学の掲示板で告知した。",
    "where": "札幌駅前の本館", "when": "2026年11月の毎週金曜", "cost": "チラシ代 3,000円",
    "happened": "学生の来館が増え、平日午後の稼働率が上がった。",
    "numbers": [{"name": "学生の来館", "value": 42, "unit": "人"}, {"name": "稼働率", "value": 61.5, "unit": "%"}],
    "again": "告知は大学の掲示板で。", "links": ["https://sapporo.example.jp/lab/students"],
}


@dataclass
class Lab:
    kobe: Space
    sapporo: Space
    hakodate: Space

    @property
    def all(self) -> list[Space]:
        return [self.kobe, self.sapporo, self.hakodate]


@asynccontextmanager
async def lab(tmp_path: Path, nats_url: str) -> AsyncIterator[Lab]:
    """Three nodes that know one another (each holds the others' space records)."""
    async with spaces_for(tmp_path, ["kobe", "sapporo", "hakodate"], lambda n: nats_url) as (k, s, h):
        fed = Lab(k, s, h)

        async def everyone_known() -> bool:
            counts = [len((await x.get("/api/spaces"))["spaces"]) for x in fed.all]
            return counts == [3, 3, 3]

        await eventually(everyone_known, timeout=60)
        yield fed


@dataclass
class Discussion:
    theme: str
    kobe_post: str
    sapporo_post: str
    reply: str
    report: str
    ids: list[str] = field(default_factory=list)


async def discuss(fed: Lab, *, member: str | None = None) -> Discussion:
    """hakodate opens a theme; kobe and sapporo post; hakodate replies to kobe; sapporo reports."""
    theme = (await fed.hakodate.post("/api/lab/themes", {
        "title": "学生料金をどうする?", "question": "学生の利用を増やすには、どんな料金がいい?", "tags": ["pricing", "学生"]}))["id"]
    await eventually(lambda: fed.kobe.get(f"/api/lab/themes/{theme}"), timeout=30)
    kobe_post = (await fed.kobe.post(f"/api/lab/themes/{theme}/posts",
                                     {"body": "神戸では平日昼の学生割を試しました。", **({"member": member} if member else {})}))["id"]
    await eventually(lambda: fed.sapporo.get(f"/api/lab/themes/{theme}"), timeout=30)
    sapporo_post = (await fed.sapporo.post(f"/api/lab/themes/{theme}/posts", {"body": "札幌は金曜に学生半額デーをやります。"}))["id"]
    await eventually(lambda: fed.hakodate.get(f"/api/lab/posts/{kobe_post}"), timeout=30)
    reply = (await fed.hakodate.post(f"/api/lab/themes/{theme}/posts",
                                     {"body": "神戸さん、告知はどうしましたか?", "reply_to": kobe_post}))["id"]
    report = (await fed.sapporo.post(f"/api/lab/themes/{theme}/reports", REPORT))["id"]
    await converged(fed.all, timeout=60)
    return Discussion(theme, kobe_post, sapporo_post, reply, report)


def shown(theme: dict[str, Any]) -> list[tuple[str, str, str, list[tuple[str, str, str]]]]:
    """A theme's discussion as a reader sees it: (space, name, body, replies) per post."""
    return [(p["space"], p["author_name"], p["body"], [(r["space"], r["author_name"], r["body"]) for r in p["replies"]])
            for p in theme["posts"]]
