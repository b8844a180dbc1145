"""Three spaces on a three-server cluster: what one publishes, all hold, through faults."""

from __future__ import annotations

from pathlib import Path

from node.embedded_nats import NatsCluster
from tests.eventually import eventually
from tests.spaces import converged, spaces_for

NAMES = ["kobe", "sapporo", "hakodate"]


async def test_profile_edit_at_kobe_is_seen_by_sapporo_and_hakodate(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """An operator edits kobe's profile; the other two spaces show it and all digests agree."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])
        edited = await kobe.put("/api/space", {"city": "Kobe", "hours": "9:00-21:00", "amenities": ["wifi"]})
        assert edited["version"] == 2

        async def seen_everywhere() -> bool:
            for s in (sapporo, hakodate):
                p = await s.get("/api/spaces/kobe", auth=False)
                if p["version"] != 2 or p["hours"] != "9:00-21:00":
                    return False
            return True

        await eventually(seen_everywhere)
        await converged([kobe, sapporo, hakodate])


async def test_sapporo_killed_misses_two_edits_and_catches_up(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """SIGKILL sapporo; kobe edits twice; sapporo restarts and holds both, digests equal."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])
        await sapporo.kill()
        await kobe.put("/api/space", {"city": "Kobe-shi"})
        await kobe.put("/api/space", {"hours": "24/7"})
        await eventually(lambda: hakodate.space_version("kobe"), timeout=15)
        await sapporo.start()
        await eventually(lambda: _is(sapporo.space_version("kobe"), 3))
        await converged([kobe, sapporo, hakodate])
        fed = await sapporo.get("/api/federation")
        assert {"author": "kobe", "channel": "pub", "seq": 3} in fed["chains"]


async def _is(value: object, want: int) -> bool:
    return (await value) == want  # type: ignore[misc]
