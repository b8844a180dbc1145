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


async def test_kobe_s_theme_edited_after_its_backup_comes_back_from_a_peer_and_search_follows_the_edit(
        tmp_path: Path) -> None:
    """kobe opened a theme, was backed up, then renamed the theme; restored, it takes the
    renamed version back from a peer's sync reply while it runs. Its search finds the theme
    by the new title at once and no longer by the old one (the kernel runs no `on_apply` for
    a node's own records: the LAB's `on_taken_back` keeps the index in step)."""
    import datetime as dt

    import msgspec

    from node.app.features import DEFAULT, kinds_of
    from node.federation import outbox
    from node.federation.identity import Identity
    from node.federation.replica import Incoming, Replica
    from node.lab import index
    from node.lab.rules import THEME, open_theme
    from node.metrics import Metrics
    from node.store import Store, Tx
    from schemas.lab import Theme, ThemeInput

    kobe = Identity.generate("kobe")
    migrations = [(f.name, f.migrations) for f in DEFAULT if f.migrations]
    now = dt.datetime.now(dt.UTC)
    theme = open_theme("kobe", ThemeInput(title="空き店舗の活用"), outbox.new_id(), now)

    def write(tx: Tx, version: int, body: Theme) -> tuple[str, int]:
        h = outbox.append(tx, kobe, kind=THEME, record_id=theme.id, version=version, body=body)
        index.put(tx, body)
        return h.channel, h.seq

    async with Store(tmp_path / "kobe.db", migrations) as lost:
        await lost.transact(lambda tx: write(tx, 1, theme))
    shutil.copy(tmp_path / "kobe.db", tmp_path / "backup.db")  # closed: everything is in the file
    renamed = msgspec.structs.replace(theme, title="商店街の空き家", updated_at=now)
    async with Store(tmp_path / "kobe.db", migrations) as lost:
        channel, seq = await lost.transact(lambda tx: write(tx, 2, renamed))
        raw = await lost.scalar("SELECT raw FROM log WHERE author = 'kobe' AND channel = ? AND seq = ?", (channel, seq))
    async with Store(tmp_path / "backup.db", migrations) as restored:
        assert await index.INDEX.search(restored, "空き店舗") == [theme.id]
        replica = Replica(restored, kobe, kinds_of(DEFAULT), Metrics(), max_skew_hours=6)
        result = await replica.apply([Incoming(bytes(raw), None, "sync")], asked=("kobe", channel, 1))
        assert (result.applied, result.quarantined) == (1, 0)
        assert await index.INDEX.search(restored, "空き家") == [theme.id]
        assert await index.INDEX.search(restored, "空き店舗") == []
