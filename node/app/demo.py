"""`hitode demo`: three spaces on one machine, each with its own nats-server, in one cluster.

Kobe, Sapporo and Hakodate, HTTP on 127.0.0.1:8701-8703, data under ./.hitode-demo/<space>/
(the operator token in operator.token there). Seeded with real-looking profiles and a
note on first run; a second run reuses the data. Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import zoneinfo
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Final

import msgspec

from node.app.node import Node
from node.app.setup import init_space
from node.app.signals import run_until_signal
from node.bus.cluster import NatsCluster
from node.config import CONFIG_FILE, load_config
from node.events import rsvps
from node.events import rules as events
from node.federation.outbox import new_id
from node.members import rules as members
from node.requests import lifecycle as requests
from node.notes import rules as notes
from schemas.event import EventInput, PlaceInput, RsvpInput
from schemas.member import MemberInput
from schemas.note import NoteInput
from schemas.request import RequestInput
from schemas.space import ProfileEdit, VisaPolicyInput

__all__ = ["run_demo", "SPACES"]

log = logging.getLogger(__name__)
TOKYO: Final = zoneinfo.ZoneInfo("Asia/Tokyo")

SPACES: Final = (
    ("kobe", "Kobe Coworking Hub", "神戸コワーキングハブ", "Kobe"),
    ("sapporo", "Sapporo Makers Base", "札幌メイカーズベース", "Sapporo"),
    ("hakodate", "Hakodate Harbor Works", "函館ハーバーワークス", "Hakodate"),
)

SEED: Final = {
    "kobe": ProfileEdit(
        address="兵庫県神戸市中央区三宮町1-1", hours="Mon-Fri 9:00-21:00, Sat 10:00-18:00",
        amenities=["wifi", "coffee", "meeting room", "monitor"], languages=["ja", "en"],
        house_rules="冷蔵庫の中身には名前を書くこと。Label your food in the fridge.",
        visa_policy=VisaPolicyInput(accepts_visas=True, free_days_per_month=2),
    ),
    "sapporo": ProfileEdit(
        address="北海道札幌市中央区北1条西2丁目", hours="Daily 8:00-22:00",
        amenities=["wifi", "3d printer", "snow boots rack"], languages=["ja"],
        house_rules="冷蔵庫の飲み物はご自由に、飲んだら補充。Drink from the fridge, refill it.",
        visa_policy=VisaPolicyInput(accepts_visas=True, free_days_per_month=3),
    ),
    "hakodate": ProfileEdit(
        address="北海道函館市末広町14", hours="Tue-Sun 10:00-19:00",
        amenities=["wifi", "sea view", "kitchen"], languages=["ja", "en"],
        house_rules="冷蔵庫は金曜日に空にします。The fridge is emptied on Fridays.",
        visa_policy=VisaPolicyInput(accepts_visas=True, accepts_from=["kobe", "sapporo"], free_days_per_month=1),
    ),
}


async def run_demo(base: Path, base_port: int = 8701) -> None:
    base = base.resolve()
    for i, (space, name, name_ja, city) in enumerate(SPACES):
        data_dir = base / space
        if not (data_dir / CONFIG_FILE).exists():
            init_space(data_dir, space=space, name=name, name_ja=name_ja, city=city,
                       http_port=base_port + i, stream_replicas=3)

    async def body(stop: asyncio.Event) -> None:
        print("hitode demo: starting three nats-servers in one cluster …", flush=True)
        async with NatsCluster(base / "nats", [s for s, *_ in SPACES], cluster_name="hitode-demo") as cluster, AsyncExitStack() as stack:
            nodes: list[Node] = []
            for i, (space, *_rest) in enumerate(SPACES):
                cfg = load_config(base / space)
                cfg = msgspec.structs.replace(
                    cfg,
                    http=msgspec.structs.replace(cfg.http, port=base_port + i),
                    nats=msgspec.structs.replace(cfg.nats, urls=[cluster[space].client_url], stream_replicas=3),
                )
                nodes.append(await stack.enter_async_context(Node(base / space, cfg)))
            await _seed(nodes)
            await _seed_events(nodes)
            await _seed_requests(nodes)
            print("\nhitode demo is running — ヒトデのデモが動いています:")
            for node in nodes:
                print(f"  {node.space:<9} dashboard {node.http_url}/   calendar: {node.http_url}/calendar.ics"
                      f"   token: {node.data_dir / 'operator.token'}")
            print("Ctrl-C stops it.\n", flush=True)
            await stop.wait()
            print("hitode demo: stopping …", flush=True)
        print("hitode demo: stopped.", flush=True)

    await run_until_signal(body)


async def _seed_events(nodes: list[Node]) -> None:
    """A joint Jelly in all three spaces, a hack night, an online LAB meeting, an RSVP."""
    kobe, sapporo, hakodate = nodes
    if await kobe.store.scalar("SELECT 1 FROM records WHERE kind = 'event' LIMIT 1"):
        return
    day = (dt.datetime.now(TOKYO) + dt.timedelta(days=(4 - dt.datetime.now(TOKYO).weekday()) % 7 + 7)).date()

    def at(hour: int) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour), tzinfo=TOKYO)

    async def publish(node: Node, inp: EventInput) -> str:
        event = events.create(node.space, inp, new_id())
        await node.store.transact(lambda tx: events.save(tx, node.ident, event, 1))
        return event.id

    jelly = await publish(kobe, EventInput(
        title="同時開催Jelly 神戸・札幌・函館 / Joint Jelly", start=at(13), end=at(17), capacity=12,
        description="3拠点をオンラインでつないで一緒に作業します。Work together, three spaces linked online.",
        place=PlaceInput(mode="hybrid", room="2F ラウンジ", url="https://meet.example.jp/jelly"),
        tags=["jelly", "joint"], language="ja", joint=True))
    await publish(sapporo, EventInput(
        title="同時開催Jelly 札幌 / Joint Jelly Sapporo", start=at(13), end=at(17), capacity=8,
        place=PlaceInput(room="工房"), tags=["jelly", "joint"], joint_id=jelly))
    await publish(hakodate, EventInput(
        title="同時開催Jelly 函館 / Joint Jelly Hakodate", start=at(13), end=at(17), capacity=6,
        place=PlaceInput(room="海の見える席"), tags=["jelly", "joint"], joint_id=jelly))
    hack = await publish(sapporo, EventInput(
        title="IoT もくもく会 / IoT hack night", start=at(19), end=at(21), capacity=2,
        place=PlaceInput(room="3D printer corner"), tags=["iot", "talk"], language="ja"))
    await publish(hakodate, EventInput(
        title="月例LABミーティング / Monthly LAB meeting", start=at(20), end=at(21) + dt.timedelta(minutes=30),
        place=PlaceInput(mode="online", url="https://meet.example.jp/lab"), tags=["lab"], language="ja"))
    hanako = await members.create(kobe.store, MemberInput(name="山田 花子", share_name=True, skills=["design"]), new_id())
    await members.create(sapporo.store, MemberInput(name="Ken Sato", skills=["iot", "python"]), new_id())
    for _ in range(100):  # kobe must see sapporo's hack night (and profile) before signing up
        if await kobe.store.scalar("SELECT 1 FROM records WHERE kind = 'event' AND record_id = ?", (hack,)):
            await rsvps.request(kobe.store, kobe.ident, members.secret_of(kobe.data_dir), hack,
                                RsvpInput(member=hanako["id"]))
            break
        await asyncio.sleep(0.1)


async def _seed_requests(nodes: list[Node]) -> None:
    """Members with skills at sapporo and hakodate; kobe asks for web work, hakodate for advice."""
    kobe, sapporo, hakodate = nodes
    if await kobe.store.scalar("SELECT 1 FROM records WHERE kind = 'request' LIMIT 1"):
        return
    await members.create(sapporo.store, MemberInput(name="佐藤 美咲", share_name=True, skills=["Web 制作", "UIデザイン"],
                                                    shared_skills=["Web 制作", "UIデザイン"], region="札幌"), new_id())
    await members.create(hakodate.store, MemberInput(name="Emma Wilson", share_name=True, skills=["翻訳", "ｳｪﾌﾞ制作"],
                                                     shared_skills=["翻訳"], availability="busy"), new_id())
    deadline = dt.datetime.now(TOKYO) + dt.timedelta(days=21)
    for node, inp in (
        (kobe, RequestInput(kind="help", title="ウェブサイト制作を手伝ってくれる人 / Help with a website",
                            body="商店街の店のサイトを一緒に作ってくれる人を探しています。", skills=["ウェブ制作"],
                            region="神戸", deadline=deadline, reward="paid")),
        (hakodate, RequestInput(kind="consult", title="観光案内の英訳 / Translating a tourist guide",
                                body="朝市の案内を英語にしたい。よろず相談です。", skills=["translation"],
                                region="函館", deadline=deadline, reward="barter")),
    ):
        await requests.post(node.store, node.ident, members.secret_of(node.data_dir), inp, node.config.space.tz)


async def _seed(nodes: list[Node]) -> None:
    """First run only: fill in the profiles and send one note, as operators would."""
    for node in nodes:
        held = await node.directory.own()
        if held is not None and held[1] == 1:
            await node.directory.edit(SEED[node.space])
    kobe = nodes[0]
    if not await kobe.store.scalar("SELECT 1 FROM records WHERE kind = 'note' LIMIT 1"):
        for _ in range(100):  # wait until kobe sees sapporo's profile (its box key)
            if await kobe.store.scalar("SELECT 1 FROM records WHERE kind = 'space' AND author = 'sapporo'"):
                await notes.send(kobe.store, kobe.ident, NoteInput(
                    to="sapporo", subject="来月の同時開催Jelly / Joint Jelly next month",
                    text="来月の第2金曜に同時開催Jellyをしませんか? Shall we hold a joint Jelly on the 2nd Friday?",
                ))
                break
            await asyncio.sleep(0.1)


