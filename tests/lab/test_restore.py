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
