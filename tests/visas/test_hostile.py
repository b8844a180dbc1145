"""Hostile visa records on the bus: each is quarantined at sapporo with its reason, and
nothing else changes. Mallory, a space sapporo pins like any other, publishes a status
list that inflates past its limit, another space's honoured count, and sends sapporo an
acknowledgement of a visit sapporo never hosted."""

from __future__ import annotations

import base64
import datetime as dt
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import nats
import pytest_asyncio

from node.bus.embedded import EmbeddedNats
from node.federation.identity import Identity
from schemas.envelope import Sealed
from schemas.visa import VisaHonoured, VisaStatus, VisitAck
from tests.eventually import eventually
from tests.forge import forge, inject, prev_of
from tests.spaces import Space, spaces_for


@pytest_asyncio.fixture
async def sapporo(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Space]:
    async with spaces_for(tmp_path, ["sapporo"], lambda n: nats_server.client_url) as (space,):
        yield space


async def test_bad_visa_records_are_quarantined_with_their_reasons(sapporo: Space, nats_server: EmbeddedNats) -> None:
    mallory = Identity.generate("mallory")
    nc = await nats.connect(nats_server.client_url)
    js = nc.jetstream()
    try:
        profile = forge(mallory)
        await inject(js, profile.subject, profile.raw)
        await eventually(lambda: sapporo.get("/api/spaces/mallory"), timeout=30)

        bomb = VisaStatus(space="mallory", size=8, bits=zlib.compress(b"\0" * 3_000_000),
                          updated_at=dt.datetime.now(dt.UTC))
        status = forge(mallory, kind="visa_status", seq=2, prev=prev_of(profile.raw), body=bomb)
        await inject(js, status.subject, status.raw)
        honoured = forge(mallory, kind="visa_honoured", seq=3, prev=prev_of(status.raw), record_id="sapporo:2026-11",
                         body=VisaHonoured(space="sapporo", month="2026-11", visits=999, days=999))
        await inject(js, honoured.subject, honoured.raw)

        box = base64.b64decode((await sapporo.get("/api/spaces/sapporo"))["box_key"])
        ack = VisitAck(author="mallory", to="sapporo", record_id="v-never", version=1, answers=1, flags=["overrun"])
        nonce, sealed = mallory.seal(msgspec.msgpack.encode(ack), box)
        body = msgspec.msgpack.encode(Sealed(box_key=mallory.box_key, nonce=nonce, ciphertext=sealed))
        dm = forge(mallory, kind="visit_ack", channel="sapporo", record_id="v-never", body=body)
        await inject(js, dm.subject, dm.raw)

        async def reasons() -> list[str] | None:
            got = [q["reason"] for q in (await sapporo.get("/api/quarantine"))["quarantine"]]
            return got if len(got) >= 3 else None

        got = "\n".join(await eventually(reasons, timeout=30))
        assert "the status list does not inflate" in got
        assert "an honoured count must be its author's own" in got
        assert "an acknowledgement of a visit this space did not host" in got
        assert (await sapporo.get("/api/visits"))["visits"] == []
        assert (await sapporo.get("/api/visas/honoured", auth=False))["spaces"] == []
    finally:
        await nc.close()
