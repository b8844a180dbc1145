"""A space restored from an old backup takes its LAB records back from its peers, and its
search finds them again (the kernel runs no reaction for a node's own records: the LAB's
index catches up by itself)."""

from __future__ import annotations

import shutil
from pathlib import Path

from node.bus.embedded import EmbeddedNats
from node.ops.backup import backup, restore
from tests.eventually import eventually
from tests.spaces import Space, converged, spaces_for


async def test_kobe_restored_from_an_old_backup_finds_its_later_theme_and_post_again(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """kobe backs up, then opens a theme and posts in it; kobe is wiped and restored: its
    theme and post come back from sapporo, and kobe's search finds them by a two-character word."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await eventually(lambda: sapporo.get("/api/spaces/kobe"), timeout=30)
        archive = tmp_path / "kobe.hitode"
        backup(kobe.dir, archive)
        theme = (await kobe.post("/api/lab/themes", {"title": "空き店舗の活用"}))["id"]
        post = (await kobe.post(f"/api/lab/themes/{theme}/posts", {"body": "商店街で出張コワーキングを開いた。"}))["id"]
        await converged([kobe, sapporo], timeout=60)

        await kobe.close()
        shutil.move(kobe.dir, tmp_path / "kobe-lost")
        restore(archive, kobe.dir)
        again = Space(kobe.dir, "kobe", nats_server.client_url)
        try:
            await again.start()

            async def found() -> bool:
                hits = [r["id"] for r in (await again.get("/api/lab/search?q=商店"))["results"]]
                return hits == [post]

            await eventually(found, timeout=60)
            assert [r["id"] for r in (await again.get("/api/lab/search?q=空き店舗"))["results"]] == [theme]
            assert [p["id"] for p in (await again.get(f"/api/lab/themes/{theme}"))["posts"]] == [post]
        finally:
            await again.close()


async def test_kobe_s_own_theme_coming_back_from_a_peer_is_indexed_while_kobe_runs(tmp_path: Path) -> None:
    """Not only at start: a theme kobe wrote before a restore, handed back later by a peer's
    sync reply, is searchable as soon as it is applied (the kernel runs no reaction for a
    node's own records; the LAB's catching up does it)."""
    import datetime as dt

    from node.app.features import DEFAULT, kinds_of
    from node.federation import outbox
    from node.federation.identity import Identity
    from node.federation.replica import Incoming, Replica
    from node.lab.index import INDEX, CatchUp
    from node.lab.rules import THEME, open_theme
    from node.metrics import Metrics
    from node.store import Store
    from schemas.lab import ThemeInput

    kobe = Identity.generate("kobe")
    migrations = [(f.name, f.migrations) for f in DEFAULT if f.migrations]
    async with Store(tmp_path / "lost.db", migrations) as lost, Store(tmp_path / "restored.db", migrations) as restored:
        theme = open_theme("kobe", ThemeInput(title="空き店舗の活用"), outbox.new_id(), dt.datetime.now(dt.UTC))
        h = await lost.transact(lambda tx: outbox.append(tx, kobe, kind=THEME, record_id=theme.id, version=1, body=theme))
        raw = await lost.scalar("SELECT raw FROM log WHERE author = 'kobe' AND channel = ? AND seq = ?", (h.channel, h.seq))
        replica = Replica(restored, kobe, kinds_of(DEFAULT), Metrics(), max_skew_hours=6)
        async with CatchUp(restored):
            assert await INDEX.search(restored, "空き") == []
            result = await replica.apply([Incoming(bytes(raw), None, "sync")], asked=("kobe", h.channel, 0))
            assert (result.applied, result.taken_back) == (1, 1)
            assert await eventually(lambda: INDEX.search(restored, "空き"), timeout=10) == [theme.id]
