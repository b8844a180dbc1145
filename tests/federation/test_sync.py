"""Gap repair: a record lost from the stream is fetched from its author over sync."""

from __future__ import annotations

from pathlib import Path

import nats

from node.bus.cluster import NatsCluster
from tests.eventually import eventually
from tests.spaces import Space, converged, spaces_for

NAMES = ["kobe", "sapporo", "hakodate"]


async def _version(space: Space, of: str, want: int) -> bool:
    return await space.space_version(of) == want


async def test_record_deleted_from_the_stream_is_repaired_from_its_author(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Sapporo is down while kobe publishes v2 and v3; v2 is deleted from the stream; sapporo gets it by sync."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])
        await sapporo.stop()
        await kobe.put("/api/space", {"hours": "lost"})
        await eventually(lambda: _version(hakodate, "kobe", 2))
        nc = await nats.connect(nats_cluster["hakodate"].client_url)
        try:
            js = nc.jetstream()
            lost = await js.get_last_msg("HITODE", "hitode.pub.space.kobe")
            assert await nc.jsm().delete_msg("HITODE", lost.seq)
        finally:
            await nc.close()
        await kobe.put("/api/space", {"hours": "after"})
        await eventually(lambda: _version(hakodate, "kobe", 3))

        await sapporo.start()
        await eventually(lambda: _version(sapporo, "kobe", 3), timeout=30)
        await converged([kobe, sapporo, hakodate])
        chains = (await sapporo.get("/api/federation"))["chains"]
        assert {"author": "kobe", "channel": "pub", "seq": 3} in chains
        assert (await sapporo.get("/healthz"))["replica_lag"]["pending"] == 0
        metrics = await sapporo.get("/metrics")
        assert 'hitode_sync_requests_total{outcome="repaired"}' in metrics


async def test_last_record_lost_is_noticed_from_presence_and_repaired(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """With no later record to reveal the gap, kobe's presence beat tells sapporo what it lacks."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])
        await sapporo.stop()
        await kobe.put("/api/space", {"hours": "only in kobe's books"})
        await eventually(lambda: _version(hakodate, "kobe", 2))
        nc = await nats.connect(nats_cluster["kobe"].client_url)
        try:
            lost = await nc.jetstream().get_last_msg("HITODE", "hitode.pub.space.kobe")
            assert await nc.jsm().delete_msg("HITODE", lost.seq)
        finally:
            await nc.close()
        await sapporo.start()
        await eventually(lambda: _version(sapporo, "kobe", 2), timeout=40)
        await converged([kobe, sapporo, hakodate])


async def test_last_dm_lost_is_asked_for_when_its_recipient_comes_back(tmp_path: Path, nats_cluster: NatsCluster) -> None:
    """Kobe's note to sapporo is lost from the stream while sapporo is down; when sapporo is back,
    kobe tells it alone how far the dm chain goes, and sapporo fetches the note from kobe."""
    async with spaces_for(tmp_path, NAMES[:2], lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo):
        await converged([kobe, sapporo])
        # sapporo must be seen offline by kobe, so that its return is news
        await sapporo.stop()

        async def offline() -> bool:
            return not (await kobe.get("/api/spaces/sapporo", auth=False))["online"]

        await eventually(offline, timeout=20)
        await kobe.post("/api/notes", {"to": "sapporo", "text": "届かなかったメモ"})
        nc = await nats.connect(nats_cluster["kobe"].client_url)
        try:
            js = nc.jetstream()

            async def stored() -> int:
                return int((await js.get_last_msg("HITODE", "hitode.dm.sapporo.note.kobe")).seq)

            assert await nc.jsm().delete_msg("HITODE", await eventually(stored))
        finally:
            await nc.close()
        await sapporo.start()

        async def notes() -> list[str]:
            return [n["text"] for n in (await sapporo.get("/api/notes"))["notes"]]

        assert await eventually(notes, timeout=30) == ["届かなかったメモ"]
        assert (await sapporo.get("/healthz"))["quarantined"] == 0
