"""Three spaces on a three-server cluster: what one publishes, all hold, through faults."""

from __future__ import annotations

from pathlib import Path

from node.bus.cluster import NatsCluster
from tests.eventually import eventually
from tests.spaces import Space, converged, spaces_for

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


async def test_kobe_takes_writes_while_its_nats_server_is_down(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe's server stops; kobe's writes succeed into its outbox and reach the others once it is back."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])
        await nats_cluster["kobe"].stop()
        await eventually(lambda: _health_is(kobe, "bus", "disconnected"))
        for hours in ("9-18", "9-19", "9-20"):
            await kobe.put("/api/space", {"hours": hours})
        health = await kobe.get("/healthz")
        assert health["outbox_backlog"] == 3
        assert (await kobe.get("/api/spaces/kobe"))["hours"] == "9-20"  # served from SQLite
        assert await sapporo.space_version("kobe") == 1

        await nats_cluster["kobe"].start()
        await nats_cluster["kobe"].wait_healthy()
        await eventually(lambda: _is(sapporo.space_version("kobe"), 4), timeout=30)
        await eventually(lambda: _is(hakodate.space_version("kobe"), 4), timeout=30)
        await converged([kobe, sapporo, hakodate])
        await eventually(lambda: _health_is(kobe, "outbox_backlog", 0))
        for s in (sapporo, hakodate):
            fed = await s.get("/api/federation")
            assert {"author": "kobe", "channel": "pub", "seq": 4} in fed["chains"]
            assert (await s.get("/api/quarantine"))["quarantine"] == []


async def test_two_versions_within_the_duplicate_window_both_arrive(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Two quick edits of one record are two records on the bus, not one mistaken for a duplicate."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await kobe.put("/api/space", {"hours": "a"})
        await kobe.put("/api/space", {"hours": "b"})

        async def both_applied() -> bool:
            fed = await sapporo.get("/api/federation")
            return {"author": "kobe", "channel": "pub", "seq": 3} in fed["chains"]

        await eventually(both_applied)
        assert (await sapporo.get("/api/spaces/kobe"))["hours"] == "b"
        await converged([kobe, sapporo, hakodate])


async def _health_is(space: Space, key: str, want: object) -> bool:
    return bool((await space.get("/healthz"))[key] == want)


async def test_directory_shows_who_is_online(tmp_path: Path, nats_cluster: NatsCluster) -> None:
    """Sapporo's node stops: kobe's directory shows it offline within a few heartbeats, and online again on return."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):

        async def online(of: str, want: bool) -> bool:
            return bool((await kobe.get(f"/api/spaces/{of}", auth=False))["online"] == want)

        await eventually(lambda: online("sapporo", True))
        await eventually(lambda: online("hakodate", True))
        await sapporo.stop()
        await eventually(lambda: online("sapporo", False))
        assert await online("hakodate", True)
        await sapporo.start()
        await eventually(lambda: online("sapporo", True))


async def test_a_node_whose_server_is_not_there_yet_serves_and_queues(tmp_path: Path) -> None:
    """Kobe starts while its NATS server is down: HTTP answers, an edit is queued, and goes out once the server starts."""
    import socket

    from node.bus.embedded import EmbeddedNats
    from tests.spaces import Space

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kobe = Space(tmp_path / "kobe", "kobe", f"nats://127.0.0.1:{port}")
    try:
        await kobe.start()  # returns once HTTP answers: start-up does not wait for the bus
        assert (await kobe.get("/healthz"))["bus"] != "connected"
        await kobe.put("/api/space", {"hours": "queued while alone"})
        assert (await kobe.get("/healthz"))["outbox_backlog"] == 2  # v1 and v2
        async with EmbeddedNats(store_dir=tmp_path / "nats", name="kobe", client_port=port):
            await eventually(lambda: _health_is(kobe, "bus", "connected"), timeout=30)
            await eventually(lambda: _health_is(kobe, "outbox_backlog", 0), timeout=30)
    finally:
        await kobe.close()


async def test_a_consumer_replaced_by_a_wrong_one_is_made_again_and_nothing_is_missed(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """While sapporo is down, someone swaps its pub consumer for one filtered on hakodate only;
    sapporo notices at start, makes it again from its own position and gets kobe's edits."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig

    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])
        await sapporo.stop()
        nc = await nats.connect(nats_cluster["sapporo"].client_url)
        try:
            jsm = nc.jsm()
            await jsm.delete_consumer("HITODE", "sapporo-pub")
            await jsm.add_consumer("HITODE", ConsumerConfig(
                name="sapporo-pub", durable_name="sapporo-pub", filter_subject="hitode.pub.*.hakodate",
                ack_policy=AckPolicy.EXPLICIT))
        finally:
            await nc.close()
        for i in range(30):
            await kobe.put("/api/space", {"hours": f"edit {i}"})
        await sapporo.start()
        await eventually(lambda: _is(sapporo.space_version("kobe"), 31), timeout=30)
        await converged([kobe, sapporo, hakodate])
        assert "not configured as expected" in (sapporo.dir / "node.log").read_text()


async def test_sapporo_s_server_is_killed_mid_stream_and_every_edit_arrives_once(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe writes 120 edits; a third of the way in, sapporo's nats-server is SIGKILLed and
    comes back a second later. Sapporo ends with every edit, in order, none twice, nothing
    quarantined, and the same digest as the others."""
    import asyncio

    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])

        async def edits() -> None:
            for i in range(120):
                await kobe.put("/api/space", {"hours": f"edit {i}"})
                await asyncio.sleep(0.01)

        writing = asyncio.create_task(edits())
        await eventually(lambda: _at_least(sapporo.space_version("kobe"), 40), timeout=30)
        await nats_cluster["sapporo"].kill()
        await asyncio.sleep(1.0)
        await nats_cluster["sapporo"].start()
        await writing
        await eventually(lambda: _is(sapporo.space_version("kobe"), 121), timeout=60)
        await converged([kobe, sapporo, hakodate])
        assert (await sapporo.get("/api/spaces/kobe"))["hours"] == "edit 119"
        assert (await sapporo.get("/api/quarantine"))["quarantine"] == []
        assert (await sapporo.get("/api/alerts"))["alerts"] == []
        fed = await sapporo.get("/api/federation")
        assert {"author": "kobe", "channel": "pub", "seq": 121} in fed["chains"]


async def _at_least(value: object, want: int) -> bool:
    return ((await value) or 0) >= want  # type: ignore[misc,operator]


async def test_sapporo_killed_in_the_middle_of_a_burst_catches_up_quickly(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe sends 300 edits in a burst; sapporo is SIGKILLed while applying them (records
    delivered to it but not acked, which the server redelivers only after its 30 s ack
    wait) and restarted: kobe's presence tells it what it lacks and it repairs them over
    sync well before that."""
    import asyncio

    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])
        await sapporo.kill()
        await asyncio.gather(*(kobe.put("/api/space", {"hours": f"edit {i}"}) for i in range(300)))
        await eventually(lambda: _is(hakodate.space_version("kobe"), 301), timeout=30)
        await sapporo.start()
        await eventually(lambda: _at_least(sapporo.space_version("kobe"), 2), timeout=30, interval=0.001)
        await sapporo.kill()  # in the middle of catching up
        await sapporo.start()
        await eventually(lambda: _is(sapporo.space_version("kobe"), 301), timeout=25)  # < the ack wait
        await converged([kobe, sapporo, hakodate])
