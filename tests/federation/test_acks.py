"""Acks owed and paid: a receiver acks what it applied after its commits, a moment later.

Each scenario reads the consumer's state on the real server and, where it matters, every
ack on the wire (a core subscription to `$JS.ACK.HITODE.<consumer>.>`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
from nats.aio.msg import Msg
from nats.js.manager import JetStreamManager

from node.bus.cluster import NatsCluster
from tests.eventually import eventually
from tests.spaces import converged, spaces_for

NAMES = ["kobe", "sapporo", "hakodate"]


async def _version_is(space: object, of: str, want: int) -> bool:
    return await space.space_version(of) == want  # type: ignore[attr-defined, no-any-return]


async def test_sapporo_acks_each_of_kobe_s_burst_once_and_owes_nothing_after(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe writes 40 edits at once; sapporo applies them all and acks each record once (a
    bus reader sees every ack); once kobe is quiet, sapporo's consumer owes the server nothing."""
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
            acked = [int(subject.split(".")[5]) for subject in acks]  # $JS.ACK.<stream>.<consumer>.<n>.<stream seq>...
            last = (await jsm.stream_info("HITODE")).state.last_seq
            assert len(acked) == len(set(acked)) and set(range(last - 39, last + 1)) <= set(acked), acks
        finally:
            await nc.close()
        await converged([kobe, sapporo, hakodate])


async def _owes_nothing(jsm: JetStreamManager, consumer: str) -> bool:
    """Every record for `consumer` in the stream was delivered and acked."""
    info = await jsm.consumer_info("HITODE", consumer)
    return info.num_ack_pending == 0 and info.num_pending == 0


async def test_sapporo_killed_while_it_owes_acks_takes_the_records_again_as_duplicates(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Sapporo applies kobe's edits and is SIGKILLed at once, acks still owed; restarted, it
    takes kobe's next edit, and the records it had not acked come again after the server's
    ack wait: applied once, counted as duplicates, nothing quarantined, nothing owed at the end."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await converged([kobe, sapporo, hakodate])
        before = await sapporo.space_version("kobe")
        await asyncio.gather(*(kobe.put("/api/space", {"hours": f"edit {i}"}) for i in range(10)))
        await eventually(lambda: _version_is(sapporo, "kobe", before + 10), timeout=30, interval=0.005)
        await sapporo.kill()
        nc = await nats.connect(nats_cluster["kobe"].client_url)
        try:
            jsm = nc.jsm()
            owed = (await jsm.consumer_info("HITODE", "sapporo-pub")).num_ack_pending
            await kobe.put("/api/space", {"hours": "after the kill"})
            await sapporo.start()
            await eventually(lambda: _version_is(sapporo, "kobe", before + 11), timeout=30)
            await eventually(lambda: _owes_nothing(jsm, "sapporo-pub"), timeout=90)  # ack_wait is 30 s
        finally:
            await nc.close()
        await converged([kobe, sapporo, hakodate])
        assert (await sapporo.get("/api/quarantine"))["quarantine"] == []
        if owed:  # what the killed node had not acked came again: a no-op
            metrics = await sapporo.get("/metrics")
            assert _counter(metrics, "hitode_records_duplicate_total") >= 1, owed


def _counter(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))
