"""Acks owed and paid: a receiver acks cumulatively, after its commits, a moment later.

Each scenario reads the consumer's state on the real server and, where it matters, every
ack on the wire (a core subscription to `$JS.ACK.HITODE.<consumer>.>`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.manager import JetStreamManager

from node.bus.cluster import NatsCluster
from tests.eventually import eventually
from tests.spaces import converged, spaces_for

NAMES = ["kobe", "sapporo", "hakodate"]


async def _version_is(space: object, of: str, want: int) -> bool:
    return await space.space_version(of) == want  # type: ignore[attr-defined, no-any-return]


async def test_sapporo_pays_one_ack_for_a_burst_of_kobe_s_edits_and_owes_nothing_after(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe writes 40 edits at once; sapporo applies them all and acks them with far fewer
    acks than records; once kobe is quiet, sapporo's consumer owes the server nothing."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])
        nc = await nats.connect(nats_cluster["hakodate"].client_url)
        acks: list[str] = []

        async def heard(msg: Msg) -> None:
            acks.append(msg.subject)

        try:
            await nc.subscribe("$JS.ACK.HITODE.sapporo-pub.>", cb=heard)
            await nc.flush()
            before = await sapporo.space_version("kobe")
            await asyncio.gather(*(kobe.put("/api/space", {"hours": f"edit {i}"}) for i in range(40)))
            await eventually(lambda: _version_is(sapporo, "kobe", before + 40), timeout=30)
            jsm = nc.jsm()
            await eventually(lambda: _owes_nothing(jsm, "sapporo-pub"), timeout=10)
            assert info_policy(await jsm.consumer_info("HITODE", "sapporo-pub")) == AckPolicy.ALL
            assert 0 < len(acks) < 40, acks
        finally:
            await nc.close()
        await converged([kobe, sapporo, hakodate])


async def _owes_nothing(jsm: JetStreamManager, consumer: str) -> bool:
    """Every record of the stream delivered to `consumer` is acked."""
    last = (await jsm.stream_info("HITODE")).state.last_seq
    info = await jsm.consumer_info("HITODE", consumer)
    return info.num_ack_pending == 0 and info.ack_floor is not None and info.ack_floor.stream_seq == last


def info_policy(info: object) -> AckPolicy | None:
    return info.config.ack_policy  # type: ignore[attr-defined, no-any-return]


async def test_sapporo_killed_while_it_owes_acks_takes_the_records_again_as_duplicates(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Sapporo applies kobe's edits and is SIGKILLed at once, its acks most likely still owed;
    restarted, it takes kobe's next edit, holds each once, quarantines nothing, agrees with
    the rest, and its consumer ends owing nothing (the next ack covers what was owed)."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])
        before = await sapporo.space_version("kobe")
        await asyncio.gather(*(kobe.put("/api/space", {"hours": f"edit {i}"}) for i in range(10)))
        await eventually(lambda: _version_is(sapporo, "kobe", before + 10), timeout=30, interval=0.005)
        await sapporo.kill()
        await kobe.put("/api/space", {"hours": "after the kill"})
        await sapporo.start()
        await eventually(lambda: _version_is(sapporo, "kobe", before + 11), timeout=30)
        await converged([kobe, sapporo, hakodate])
        assert (await sapporo.get("/api/quarantine"))["quarantine"] == []
        nc = await nats.connect(nats_cluster["kobe"].client_url)
        try:
            jsm = nc.jsm()
            await eventually(lambda: _owes_nothing(jsm, "sapporo-pub"), timeout=10)
        finally:
            await nc.close()


async def test_a_consumer_made_by_an_older_node_with_explicit_acks_is_made_again_from_sqlite(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Sapporo's consumer was made by a node that acked each record (explicit acks). At start
    sapporo makes it again with cumulative acks from the position its SQLite keeps, and the
    edits kobe wrote meanwhile arrive once each."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])
        before = await sapporo.space_version("kobe")
        await sapporo.stop()
        nc = await nats.connect(nats_cluster["sapporo"].client_url)
        try:
            jsm = nc.jsm()
            info = await jsm.consumer_info("HITODE", "sapporo-pub")
            await jsm.delete_consumer("HITODE", "sapporo-pub")
            await jsm.add_consumer("HITODE", ConsumerConfig(
                name="sapporo-pub", durable_name="sapporo-pub", filter_subject="hitode.pub.>",
                ack_policy=AckPolicy.EXPLICIT, deliver_policy=info.config.deliver_policy,
                opt_start_seq=info.config.opt_start_seq))
            for i in range(5):
                await kobe.put("/api/space", {"hours": f"while away {i}"})
            await sapporo.start()
            await eventually(lambda: _version_is(sapporo, "kobe", before + 5), timeout=30)
            await converged([kobe, sapporo, hakodate])
            assert info_policy(await jsm.consumer_info("HITODE", "sapporo-pub")) == AckPolicy.ALL
        finally:
            await nc.close()
        assert (await sapporo.get("/api/quarantine"))["quarantine"] == []
