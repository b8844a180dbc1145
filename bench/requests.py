"""Requests benchmark: matching and search at the size of a busy federation, on one node.

    .venv/bin/python bench/requests.py [--members 10000] [--requests 1000] [--corpus 10000] [--keep]

One real SQLite file with the node's own migrations (kernel, members, requests) and the
node's own code paths, in process:

match-request  10,000 members (3-5 skills each, of ~250 tags in Japanese and English,
               written as the members feature writes them, skill index included); then,
               one at a time, a new request is indexed (as a replica is applied) and
               ranked against every member: the time of both, median and p99.
match-member   1,000 open requests held; one at a time a new member is written (its skill
               index with it) and the open requests it fits are found: median and p99.
search         10,000 requests of Japanese and English text; p99 of `GET /api/requests`'s
               text search (bm25 over the bigram index) for two-character words, longer
               phrases and Latin words.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from node.federation import records  # noqa: E402
from node.members import rules as members  # noqa: E402
from node.members import skills  # noqa: E402
from node.requests import book, matching  # noqa: E402
from node.requests.rules import KIND  # noqa: E402
from node.store import Store, Tx  # noqa: E402
from schemas.request import HelpRequest, RequestFilters  # noqa: E402

REGIONS = ["神戸", "札幌", "函館", "東京", "大阪", "福岡", ""]
WORDS = ["ウェブサイト", "制作", "会計", "映像", "翻訳", "イベント", "運営", "デザイン", "写真", "撮影", "相談", "商店街",
         "地域", "子ども", "食堂", "農家", "販路", "アプリ", "UI", "チラシ", "英語", "記事", "取材", "補助金", "申請",
         "landing page", "logo", "spreadsheet", "podcast", "workshop", "community", "marketing", "translation"]
QUERIES = ["制作", "会計", "映像", "UI", "ウェブサイト", "補助金 申請", "商店街", "translation", "logo", "子ども食堂",
           "ｳｪﾌﾞｻｲﾄ", "podcast", "イベント運営", "英語"]


def _tags(rng: random.Random) -> list[str]:
    seeded = [t for group in skills.SEED for t in group]
    return seeded + [f"{w}{i}" for w in ("スキル", "skill", "技能") for i in range(60)]


def _request(rng: random.Random, i: int, tags: list[str], now: dt.datetime) -> HelpRequest:
    title = "".join(rng.sample(WORDS, 3))
    return HelpRequest(
        id=f"bench-{i}", space=rng.choice(["kobe", "sapporo", "hakodate", "tokyo"]),
        kind=rng.choice(["help", "contract", "consult", "collab"]), title=title[:200],
        body=" ".join(rng.choices(WORDS, k=20)), skills=rng.sample(tags, rng.randint(1, 3)),
        region=rng.choice(REGIONS), online_ok=rng.random() < 0.7, deadline=now + dt.timedelta(days=30),
        reward=rng.choice(["paid", "barter", "volunteer"]), created_at=now,
    )


def _hold(tx: Tx, req: HelpRequest) -> None:
    """As the applier holds a peer's request: its record row, then the reaction (indexes)."""
    records.put(tx, author=req.space, kind=KIND, record_id=req.id,
                channel="pub", version=1, body=msgspec.msgpack.encode(req), hash=b"")
    book.index(tx, req)


def _member(tx: Tx, member_id: str, rng: random.Random, tags: list[str]) -> None:
    own = rng.sample(tags, rng.randint(3, 5))
    tx.execute("INSERT INTO members (id, name, email, share_name, skills, created_at, shared_skills, availability, region)"
               " VALUES (?, ?, '', 0, ?, 0, '[]', ?, ?)",
               (member_id, f"member {member_id}", msgspec.json.encode(own).decode(),
                rng.choice(["available", "available", "busy", "away"]), rng.choice(REGIONS)))
    skills.index_member(tx, member_id, own)


def _ms(values: list[float]) -> str:
    s = sorted(values)
    p99 = s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]
    return f"median {statistics.median(s):7.2f} ms   p99 {p99:7.2f} ms   (n={len(s)})"


async def run(args: argparse.Namespace, base: Path) -> None:
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    tags = _tags(rng)
    owners = [("members", members.MIGRATIONS), ("requests", book.MIGRATIONS)]
    async with Store(base / "bench.db", owners) as store:
        for start in range(0, args.members, 1000):
            await store.transact(lambda tx, s=start: [_member(tx, f"m{i}", rng, tags)
                                                      for i in range(s, min(s + 1000, args.members))])
        synonyms = await skills.load(store)
        took, ranked, found = [], [], []
        for i in range(args.trials):
            req = _request(rng, 1_000_000 + i, tags, now)
            t0 = time.perf_counter()
            await store.transact(lambda tx, r=req: _hold(tx, r))
            t1 = time.perf_counter()
            found.append(len(await matching.matches(store, req, synonyms)))
            took.append((time.perf_counter() - t0) * 1000)
            ranked.append((time.perf_counter() - t1) * 1000)
        print(f"match a new request against {args.members:,} members:    {_ms(took)}"
              f"   ({statistics.mean(found):.0f} matches on average)")
        print(f"  of which ranking the members (after the durable write): {_ms(ranked)}")

    async with Store(base / "open.db", owners) as store:
        await store.transact(lambda tx: [_hold(tx, _request(rng, i, tags, now)) for i in range(args.requests)])
        took, ranked, found = [], [], []
        for i in range(args.trials):
            t0 = time.perf_counter()
            await store.transact(lambda tx, i=i: _member(tx, f"new{i}", rng, tags))
            t1 = time.perf_counter()
            found.append(len(await matching.requests_for(store, f"new{i}", now)))
            took.append((time.perf_counter() - t0) * 1000)
            ranked.append((time.perf_counter() - t1) * 1000)
        print(f"match a new member against {args.requests:,} open requests: {_ms(took)}"
              f"   ({statistics.mean(found):.0f} requests on average)")
        print(f"  of which finding the requests (after the durable write): {_ms(ranked)}")

    async with Store(base / "search.db", owners) as store:
        for start in range(0, args.corpus, 1000):
            await store.transact(lambda tx, s=start: [_hold(tx, _request(rng, i, tags, now))
                                                      for i in range(s, min(s + 1000, args.corpus))])
        synonyms = await skills.load(store)
        took, hits = [], []
        for i in range(args.searches):
            f = RequestFilters(text=QUERIES[i % len(QUERIES)], limit=50)
            t0 = time.perf_counter()
            hits.append(len(await book.listing(store, f, now, synonyms)))
            took.append((time.perf_counter() - t0) * 1000)
        print(f"search {args.corpus:,} requests (text, bm25, first 50):  {_ms(took)}"
              f"   ({statistics.mean(hits):.0f} results on average)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=10_000)
    p.add_argument("--requests", type=int, default=1_000)
    p.add_argument("--corpus", type=int, default=10_000)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--searches", type=int, default=280)
    p.add_argument("--keep", action="store_true", help="keep the SQLite files")
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="hitode-bench-requests-"))
    try:
        asyncio.run(run(args, base))
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
