"""Records held out of order: a bounded pending store, gap repair that backs off, and keys pinned only by records that apply.

One real node (sapporo) on one real nats-server; the test plays other spaces, publishing
records it signs itself straight into stream HITODE (tests/forge.py).
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import nats
import nats.js
import pytest_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg

from node.bus.embedded import EmbeddedNats
from node.federation.identity import Identity
from schemas.rpc import SyncReply
from tests.eventually import eventually
from tests.forge import forge, inject, profile
from tests.spaces import Space, spaces_for

PENDING_CAP = 1024  # the per-chain bound these tests assume for records held behind a gap


@dataclass
class Bench:
    sapporo: Space
    nc: Client
    js: nats.js.JetStreamContext

    async def pending(self) -> int:
        return int((await self.sapporo.get("/healthz"))["replica_lag"]["pending"])

    async def quarantine(self) -> list[dict[str, Any]]:
        return list((await self.sapporo.get("/api/quarantine"))["quarantine"])

    async def profile(self, space: str) -> dict[str, Any] | None:
        spaces = (await self.sapporo.get("/api/spaces"))["spaces"]
        return next((s for s in spaces if s["id"] == space), None)

    async def applied_or_refused(self, space: str) -> dict[str, Any]:
        """Wait until sapporo either lists `space` or holds a quarantine row for it; return which."""

        async def settled() -> dict[str, Any]:
            # Quarantine first: a record refused in the same commit that applied the
            # profile is then never seen without the profile.
            rows = [q for q in await self.quarantine() if q["author"] == space]
            if (p := await self.profile(space)) is not None:
                return {"profile": p}
            return {"quarantine": rows} if rows else {}

        return await eventually(settled)


@pytest_asyncio.fixture
async def bench(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Bench]:
    async with spaces_for(tmp_path, ["sapporo"], lambda n: nats_server.client_url) as (sapporo,):
        # sapporo's own profile back from the bus: stream HITODE exists and its consumers run
        await eventually(lambda: sapporo.space_version("sapporo"))
        nc = await nats.connect(nats_server.client_url)
        try:
            yield Bench(sapporo, nc, nc.jetstream())
        finally:
            await nc.close()


async def test_a_flood_of_out_of_order_records_does_not_grow_the_pending_store_without_bound(bench: Bench) -> None:
    """3000 valid records of one author behind a missing seq 2 leave at most PENDING_CAP (1024) of them pending at sapporo."""
    mallory = Identity.generate("mallory")
    first = forge(mallory)
    await inject(bench.js, first.subject, first.raw)
    flood = [forge(mallory, seq=seq, prev=os.urandom(32), version=seq, body=profile(mallory, hours=str(seq)))
             for seq in range(3, 3003)]
    for i in range(0, len(flood), 250):
        await asyncio.gather(*(inject(bench.js, f.subject, f.raw) for f in flood[i : i + 250]))
    # A record of another author published after the flood: once it shows, the flood was taken in.
    marker = Identity.generate("otaru")
    m = forge(marker)
    await inject(bench.js, m.subject, m.raw)
    await eventually(lambda: bench.profile("otaru"), timeout=60)

    held = await bench.pending()
    assert held <= PENDING_CAP, f"sapporo holds {held} pending records of one chain (cap assumed: {PENDING_CAP})"
    assert bench.sapporo.proc is not None and bench.sapporo.proc.returncode is None, bench.sapporo.log_tail()


async def test_gap_repair_backs_off_while_the_author_never_has_the_missing_record(bench: Bench) -> None:
    """An author that answers every sync at once but never has seq 2 is asked at most 3 times in 8 s (retries must at least roughly double)."""
    mallory = Identity.generate("mallory")
    asked: list[float] = []
    loop = asyncio.get_running_loop()

    async def answer_empty(msg: Msg) -> None:
        asked.append(loop.time())
        await msg.respond(msgspec.msgpack.encode(SyncReply()))

    sub = await bench.nc.subscribe("hitode.rpc.mallory.sync", cb=answer_empty)
    one = forge(mallory)
    three = forge(mallory, seq=3, prev=os.urandom(32), version=3)
    await inject(bench.js, one.subject, one.raw)
    await inject(bench.js, three.subject, three.raw)
    await eventually(lambda: asked, timeout=20)

    window = 8.0
    await asyncio.sleep(window)  # measuring a rate: the window is the observation, not a wait for a state
    await sub.unsubscribe()
    in_window = [t for t in asked if t - asked[0] < window]
    assert await bench.pending() == 1
    assert len(in_window) <= 3, (
        f"sapporo asked mallory for the same gap {len(in_window)} times in {window:.0f} s, "
        f"at +{', +'.join(f'{t - asked[0]:.1f}' for t in in_window)} s: no backoff"
    )


async def test_the_key_pinned_is_that_of_the_first_record_applied_not_of_one_still_pending(bench: Bench) -> None:
    """nagoya's seq 5 signed by key A arrives first and waits behind a gap; the real seq 1 signed by key B then applies and B is pinned."""
    a, b = Identity.generate("nagoya"), Identity.generate("nagoya")
    early = forge(a, seq=5, prev=os.urandom(32), version=5, body=profile(a, name="Nagoya (A)"))
    await inject(bench.js, early.subject, early.raw)
    await eventually(lambda: _equals(bench.pending(), 1))

    real = forge(b, body=profile(b, name="Nagoya (B)"))
    await inject(bench.js, real.subject, real.raw)
    seen = await bench.applied_or_refused("nagoya")
    assert "profile" in seen, f"nagoya's real seq 1 (key B) was refused; the pending seq 5 pinned key A: {seen}"
    p = seen["profile"]
    assert p["name"] == "Nagoya (B)" and p["sign_key"] == base64.b64encode(b.sign_key).decode()


async def test_a_record_with_a_bad_prev_does_not_pin_its_key(bench: Bench) -> None:
    """sendai's seq 2 signed by key A, naming a prev that exists nowhere, comes first; the real seq 1 signed by key B then applies, B is pinned and A's record never applies."""
    a, b = Identity.generate("sendai"), Identity.generate("sendai")
    bad = forge(a, seq=2, prev=os.urandom(32), version=2, body=profile(a, name="Sendai (A)"))
    await inject(bench.js, bad.subject, bad.raw)
    await eventually(lambda: _equals(bench.pending(), 1))

    real = forge(b, body=profile(b, name="Sendai (B)"))
    await inject(bench.js, real.subject, real.raw)
    seen = await bench.applied_or_refused("sendai")
    assert "profile" in seen, f"sendai's real seq 1 (key B) was refused; the bad-prev record pinned key A: {seen}"
    p = seen["profile"]
    assert p["name"] == "Sendai (B)" and p["version"] == 1
    assert p["sign_key"] == base64.b64encode(b.sign_key).decode()


async def _equals(value: Any, want: Any) -> bool:
    return bool(await value == want)

