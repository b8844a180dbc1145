"""Record ownership: an event id belongs to its first author at every version and on every path.

kobe and sapporo are real nodes on one real nats-server; mallory is the test itself, a
space with its own valid keys that publishes event records under kobe's event id. Its
records are well signed and well chained, so only the ownership rule can refuse them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.js
import pytest_asyncio
from nats.aio.client import Client

from node.bus.embedded import EmbeddedNats
from node.federation.identity import Identity
from schemas.event import Event
from tests.eventually import eventually
from tests.forge import Forged, forge, inject
from tests.spaces import Space, converged, spaces_for

SOON = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).replace(hour=1, minute=0, second=0, microsecond=0)


def jelly(title: str = "Jelly 神戸") -> dict[str, Any]:
    return {"title": title, "tz": "Asia/Tokyo", "start": SOON.isoformat(),
            "end": (SOON + dt.timedelta(hours=3)).isoformat(), "capacity": 10}


def impostor(mallory: Identity, event_id: str, *, seq: int, prev: bytes, version: int) -> Forged:
    """mallory's own event record (hosted by mallory, as apply demands) under kobe's event id."""
    body = Event(id=event_id, space=mallory.space, title="Jelly 神戸 (mallory's copy)",
                 start=SOON, end=SOON + dt.timedelta(hours=3), capacity=1)
    return forge(mallory, kind="event", seq=seq, prev=prev, record_id=event_id, version=version, body=body)


@dataclass
class Scene:
    kobe: Space
    sapporo: Space
    nc: Client
    js: nats.js.JetStreamContext
    mallory: Identity
    event_id: str


@pytest_asyncio.fixture
async def scene(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Scene]:
    """kobe has created an event and sapporo holds it; mallory's bus handle is open."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        event_id = str((await kobe.post("/api/events", jelly()))["id"])
        await eventually(lambda: sapporo.get(f"/api/events/{event_id}"))
        await converged([kobe, sapporo])
        nc = await nats.connect(nats_server.client_url)
        try:
            yield Scene(kobe, sapporo, nc, nc.jetstream(), Identity.generate("mallory"), event_id)
        finally:
            await nc.close()


async def _chain_at(space: Space, author: str, seq: int) -> bool:
    return {"author": author, "channel": "pub", "seq": seq} in (await space.get("/api/federation"))["chains"]


async def _kobe_still_owns(s: Scene, title: str) -> None:
    """sapporo shows kobe's event under its id, lists it once, and quarantines mallory's event records."""
    got = await s.sapporo.get(f"/api/events/{s.event_id}")
    assert (got["space"], got["title"]) == ("kobe", title), f"GET /api/events/{{id}} at sapporo resolves to {got['space']}'s copy"
    listed = [e for e in (await s.sapporo.get("/api/events?limit=500", auth=False))["events"] if e["id"] == s.event_id]
    assert [(e["space"], e["title"]) for e in listed] == [("kobe", title)], "sapporo lists another space's copy of kobe's event"
    rows = (await s.sapporo.get("/api/quarantine"))["quarantine"]
    refused = [q for q in rows if q["subject"] == "hitode.pub.event.mallory"]
    assert refused and all(q["reason"].startswith("id_taken: ") for q in refused), rows


async def test_an_impostors_later_version_of_kobes_event_id_is_refused_and_kobe_keeps_the_event(scene: Scene) -> None:
    """mallory publishes v1 and then v2 of kobe's event id: sapporo refuses both, and its event page, listing and RSVPs stay kobe's."""
    s = scene
    p = forge(s.mallory)  # mallory's space record: a directory entry like any other
    v1 = impostor(s.mallory, s.event_id, seq=2, prev=p.hash, version=1)
    v2 = impostor(s.mallory, s.event_id, seq=3, prev=v1.hash, version=2)
    for f in (p, v1, v2):
        await inject(s.js, f.subject, f.raw)
    await eventually(lambda: _chain_at(s.sapporo, "mallory", 3))

    # kobe goes on editing its event; sapporo applies the edit.
    await s.kobe.request("PATCH", f"/api/events/{s.event_id}", {"title": "Jelly 神戸 (2F)"})
    await converged([s.kobe, s.sapporo])

    await _kobe_still_owns(s, "Jelly 神戸 (2F)")
    refused = [q for q in (await s.sapporo.get("/api/quarantine"))["quarantine"] if q["author"] == "mallory"]
    assert len(refused) == 2, refused  # v1 and v2; mallory's space record applied
    aiko = (await s.sapporo.post("/api/members", {"name": "Aiko", "share_name": True}))["id"]
    rsvp = await s.sapporo.post(f"/api/events/{s.event_id}/rsvps", {"member": aiko})
    assert rsvp["host"] == "kobe", f"sapporo's RSVP went to {rsvp['host']}: {rsvp}"


async def test_an_impostors_version_of_kobes_event_id_arriving_by_gap_repair_is_refused(scene: Scene) -> None:
    """Sapporo is down while mallory publishes v2 of kobe's event id; the record is lost from the stream and reaches sapporo by sync from kobe: refused all the same."""
    s = scene
    await s.sapporo.stop()
    p = forge(s.mallory)
    v2 = impostor(s.mallory, s.event_id, seq=2, prev=p.hash, version=2)
    p2 = forge(s.mallory, seq=3, prev=v2.hash, version=2)  # a later record reveals the gap
    for f in (p, v2, p2):
        await inject(s.js, f.subject, f.raw)
    await eventually(lambda: _chain_at(s.kobe, "mallory", 3))  # kobe holds all three, so it can serve them
    lost = await s.js.get_last_msg("HITODE", v2.subject)
    assert lost.data == v2.raw and lost.seq is not None
    assert await s.nc.jsm().delete_msg("HITODE", lost.seq)

    await s.sapporo.start()
    await eventually(lambda: _chain_at(s.sapporo, "mallory", 3), timeout=30)
    metrics = await s.sapporo.get("/metrics", auth=False)
    assert 'hitode_sync_requests_total{outcome="repaired"}' in metrics  # it came by sync, not the consumer

    await _kobe_still_owns(s, "Jelly 神戸")
