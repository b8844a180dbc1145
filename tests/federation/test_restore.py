"""A space restored from a backup takes back what it wrote after the backup before it writes again.

Its records since the backup live only on its peers (and in the stream): if it signed its
next record with a seq it had already used, every peer would see equivocation. Restored,
it asks its peers for its own pub chain and its dm chain to each of them, then goes on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from node.bus.embedded import EmbeddedNats
from node.ops.backup import backup, restore
from tests.eventually import eventually
from tests.spaces import Space, converged, spaces_for


async def test_kobe_restored_from_an_old_backup_takes_back_its_later_records_and_goes_on(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """kobe backs up, writes two profile versions and a note to sapporo, is wiped and restored:
    its next edit and note follow on, and sapporo sees no equivocation."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await kobe.request("PATCH", "/api/space", {"hours": "before the backup"})
        await converged([kobe, sapporo])
        archive = tmp_path / "kobe.hitode"
        backup(kobe.dir, archive)
        await kobe.request("PATCH", "/api/space", {"hours": "after the backup"})
        await kobe.request("PATCH", "/api/space", {"city": "Kobe-shi"})
        await kobe.post("/api/notes", {"to": "sapporo", "text": "バックアップの後のメモ"})
        await eventually(lambda: _notes(sapporo, 1))
        await converged([kobe, sapporo])

        await kobe.close()
        shutil.move(kobe.dir, tmp_path / "kobe-lost")
        restore(archive, kobe.dir)
        again = Space(kobe.dir, "kobe", nats_server.client_url)
        try:
            await again.start()
            await again.request("PATCH", "/api/space", {"hours": "after the restore"})
            await again.post("/api/notes", {"to": "sapporo", "text": "復元の後のメモ"})
            await eventually(lambda: _notes(sapporo, 2))

            async def shows() -> bool:
                got = await sapporo.get("/api/spaces/kobe")
                return bool(got["hours"] == "after the restore" and got["city"] == "Kobe-shi")

            await eventually(shows)
            await converged([again, sapporo])
            assert (await sapporo.get("/api/alerts"))["alerts"] == []
            assert (await sapporo.get("/healthz"))["quarantined"] == 0
            assert not (kobe.dir / "restored").exists()
        finally:
            await again.close()


async def _notes(space: Space, n: int) -> bool:
    return len((await space.get("/api/notes"))["notes"]) >= n
