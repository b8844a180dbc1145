"""Hostile bytes on the bus: each is refused with its reason, changes nothing, and the loop goes on.

Two real nodes (kobe, sapporo) share one real nats-server; the test itself is the
attacker, publishing crafted bytes straight into stream HITODE with its own NATS
connection (DESIGN §3.5: everything a node receives is hostile until verified). Each
scenario checks three things at sapporo: the quarantine row and its reason code, that
nothing else changed, and that a legitimate edit kobe makes afterwards still arrives.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import nats
import nats.js
import pytest_asyncio

from node.bus.embedded import EmbeddedNats
from node.federation.identity import Identity
from node.federation.outbox import new_id
from schemas.envelope import DOMAIN_TAG, Envelope, Header, Sealed, Signed
from tests.eventually import eventually
from tests.forge import forge, inject, prev_of, profile, sealed_note
from tests.spaces import Space, converged, spaces_for

_DUPLICATES = re.compile(r"^hitode_records_duplicate_total (\S+)$", re.MULTILINE)


@dataclass
class Scene:
    """kobe and sapporo, converged and pinned to each other, and the attacker's bus handle."""

    kobe: Space
    sapporo: Space
    js: nats.js.JetStreamContext
    mallory: Identity
    before: dict[str, Any]  # sapporo's /api/federation once the scene was set

    async def federation(self) -> dict[str, Any]:
        return dict(await self.sapporo.get("/api/federation"))

    async def quarantine(self) -> list[dict[str, Any]]:
        return list((await self.sapporo.get("/api/quarantine"))["quarantine"])

    async def quarantined(self, reason: str) -> dict[str, Any]:
        """Wait for sapporo's quarantine to hold a row with this reason code; it must be the only row."""

        async def found() -> list[dict[str, Any]]:
            return [q for q in await self.quarantine() if q["reason"].startswith(f"{reason}: ")]

        (row,) = await eventually(found)
        rows = await self.quarantine()
        assert rows == [row], f"expected only the {reason} row, sapporo holds {rows}"
        return dict(row)

    async def kobe_record(self) -> bytes:
        """kobe's newest public record, read back from the stream as it travelled."""
        msg = await self.js.get_last_msg("HITODE", "hitode.pub.space.kobe")
        assert msg.data
        return msg.data

    async def duplicates(self) -> float:
        text = await self.sapporo.get("/metrics", auth=False)
        m = _DUPLICATES.search(text)
        return float(m.group(1)) if m else 0.0

    async def loop_goes_on(self) -> None:
        """A legitimate edit at kobe, made after the hostile message, still reaches sapporo."""
        hours = f"open after {new_id()}"
        edited = await self.kobe.put("/api/space", {"hours": hours})

        async def seen() -> bool:
            p = await self.sapporo.get("/api/spaces/kobe", auth=False)
            return bool(p["version"] == edited["version"] and p["hours"] == hours)

        await eventually(seen)
        await converged([self.kobe, self.sapporo], timeout=15)
        health = await self.sapporo.get("/healthz")
        assert health["bus"] == "connected" and health["replica_lag"]["pending"] == 0
        for s in (self.kobe, self.sapporo):
            assert s.proc is not None and s.proc.returncode is None, s.log_tail()


@pytest_asyncio.fixture
async def scene(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Scene]:
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        # Each has the other's profile: kobe's key is pinned at sapporo (trust on first use).
        await eventually(lambda: sapporo.space_version("kobe"), timeout=20)
        await eventually(lambda: kobe.space_version("sapporo"), timeout=20)
        await converged([kobe, sapporo], timeout=15)
        nc = await nats.connect(nats_server.client_url)
        try:
            before = dict(await sapporo.get("/api/federation"))
            yield Scene(kobe, sapporo, nc.jetstream(), Identity.generate("mallory"), before)
        finally:
            await nc.close()


def _header_of(raw: bytes) -> Header:
    env = msgspec.msgpack.decode(raw, type=Envelope)
    return msgspec.msgpack.decode(env.signed[len(DOMAIN_TAG):], type=Signed).header


# records that never pass intake


async def test_forged_signature_is_quarantined_and_the_loop_goes_on(scene: Scene) -> None:
    """kobe's next record with one signature bit flipped is refused as bad_signature, and kobe's real next record still applies."""
    kobe_key = Identity.load("kobe", scene.kobe.dir)
    v1 = await scene.kobe_record()
    forged = forge(kobe_key, seq=2, prev=prev_of(v1), version=2,
                   body=profile(kobe_key, name="Hijacked"), flip_sig=True)
    await inject(scene.js, forged.subject, forged.raw)

    row = await scene.quarantined("bad_signature")
    assert row["subject"] == "hitode.pub.space.kobe" and row["author"] == "kobe"
    assert row["source"] == "sapporo-pub" and row["size"] == len(forged.raw)
    assert await scene.federation() == scene.before
    assert (await scene.sapporo.get("/api/spaces/kobe", auth=False))["name"] == "Kobe Coworking"
    await scene.loop_goes_on()


async def test_record_for_a_pinned_space_signed_by_another_key_is_quarantined_and_the_loop_goes_on(scene: Scene) -> None:
    """mallory signs a well-chained v2 of kobe's profile with its own key: refused as key_mismatch, kobe stays kobe's."""
    v1 = await scene.kobe_record()
    forged = forge(scene.mallory, author="kobe", seq=2, prev=prev_of(v1), version=2,
                   body=profile(scene.mallory, space="kobe", name="Kobe (taken over)"))
    await inject(scene.js, forged.subject, forged.raw)

    row = await scene.quarantined("key_mismatch")
    assert row["subject"] == "hitode.pub.space.kobe" and row["author"] == "kobe"
    assert await scene.federation() == scene.before
    kobe = await scene.sapporo.get("/api/spaces/kobe", auth=False)
    assert kobe["name"] == "Kobe Coworking" and kobe["version"] == 1
    await scene.loop_goes_on()


async def test_subject_naming_another_author_is_quarantined_and_the_loop_goes_on(scene: Scene) -> None:
    """A valid record signed by mallory, published on kobe's subject, is refused as subject_mismatch; mallory is not pinned."""
    forged = forge(scene.mallory)
    assert forged.header.author == "mallory"
    await inject(scene.js, "hitode.pub.space.kobe", forged.raw)

    row = await scene.quarantined("subject_mismatch")
    assert row["subject"] == "hitode.pub.space.kobe" and row["author"] == "mallory"
    assert await scene.federation() == scene.before
    assert await scene.sapporo.space_version("mallory") == 0
    await scene.loop_goes_on()


async def test_oversized_message_is_quarantined_and_the_loop_goes_on(scene: Scene) -> None:
    """A correctly signed envelope of 100 KiB is refused as oversized before anything else is looked at."""
    forged = forge(scene.mallory, body=b"\x00" * (100 * 1024))
    assert len(forged.raw) > 100 * 1024
    await inject(scene.js, forged.subject, forged.raw)

    row = await scene.quarantined("oversized")
    assert row["author"] == "mallory" and row["size"] > 64 * 1024
    assert await scene.federation() == scene.before
    assert await scene.sapporo.space_version("mallory") == 0
    await scene.loop_goes_on()


async def test_bytes_that_are_not_an_envelope_are_quarantined_and_the_loop_goes_on(scene: Scene) -> None:
    """Plain text and a truncated envelope are each refused as not_envelope."""
    truncated = forge(scene.mallory).raw[:-7]
    await inject(scene.js, "hitode.pub.space.mallory", b"GET / HTTP/1.1\r\n\r\n")
    await inject(scene.js, "hitode.pub.space.mallory", truncated)

    async def both() -> list[dict[str, Any]]:
        rows = await scene.quarantine()
        return rows if len(rows) == 2 else []

    rows = await eventually(both)
    assert all(r["reason"].startswith("not_envelope: ") for r in rows), rows
    assert sorted(r["size"] for r in rows) == sorted([18, len(truncated)])
    assert await scene.federation() == scene.before
    await scene.loop_goes_on()


async def test_record_from_the_future_is_quarantined_and_the_loop_goes_on(scene: Scene) -> None:
    """A record created a day ahead of sapporo's clock is refused as clock_skew and its author is not pinned."""
    forged = forge(scene.mallory, created_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    await inject(scene.js, forged.subject, forged.raw)

    row = await scene.quarantined("clock_skew")
    assert row["author"] == "mallory"
    assert await scene.federation() == scene.before
    assert await scene.sapporo.space_version("mallory") == 0
    await scene.loop_goes_on()


async def test_dm_whose_header_names_another_recipient_is_quarantined_and_the_loop_goes_on(scene: Scene) -> None:
    """A note sealed for kobe but published on sapporo's dm subject is refused as subject_mismatch; kobe's own notes still arrive."""
    kobe = await scene.sapporo.get("/api/spaces/kobe", auth=False)
    record_id, body = sealed_note(scene.mallory, to="kobe", to_box_key=base64.b64decode(kobe["box_key"]),
                                  text="meet me")
    forged = forge(scene.mallory, kind="note", channel="kobe", record_id=record_id, body=body)
    assert forged.subject == "hitode.dm.kobe.note.mallory"
    await inject(scene.js, "hitode.dm.sapporo.note.mallory", forged.raw)

    row = await scene.quarantined("subject_mismatch")
    assert row["subject"] == "hitode.dm.sapporo.note.mallory" and row["source"] == "sapporo-dm"
    assert await scene.federation() == scene.before
    assert (await scene.sapporo.get("/api/notes"))["notes"] == []

    await scene.kobe.post("/api/notes", {"to": "sapporo", "text": "the real one"})

    async def delivered() -> list[dict[str, Any]]:
        return list((await scene.sapporo.get("/api/notes"))["notes"])

    (note,) = await eventually(delivered)
    assert note["author"] == "kobe" and note["text"] == "the real one"
    await scene.loop_goes_on()


# records that pass intake and meet the replica's state


async def test_replayed_envelope_with_a_new_msg_id_is_applied_once(scene: Scene) -> None:
    """kobe's first record, replayed byte for byte under a new msg-id, is counted as a duplicate and changes nothing."""
    first = await scene.kobe_record()
    assert _header_of(first).seq == 1
    dups = await scene.duplicates()
    await inject(scene.js, "hitode.pub.space.kobe", first)

    async def counted() -> bool:
        return await scene.duplicates() > dups

    await eventually(counted)
    assert await scene.federation() == scene.before
    assert await scene.quarantine() == []
    assert await scene.sapporo.space_version("kobe") == 1
    await scene.loop_goes_on()


async def test_older_version_after_a_newer_one_is_quarantined_and_the_newer_stays(scene: Scene) -> None:
    """mallory sends v2 at seq 1, then v1 at seq 2: v1 is refused as stale_version, v2 stays, and mallory's chain moves on."""
    v2 = forge(scene.mallory, seq=1, version=2, body=profile(scene.mallory, name="Mallory v2"))
    v1 = forge(scene.mallory, seq=2, prev=v2.hash, version=1, body=profile(scene.mallory, name="Mallory v1"))
    await inject(scene.js, v2.subject, v2.raw)
    await inject(scene.js, v1.subject, v1.raw)

    row = await scene.quarantined("stale_version")
    assert row["author"] == "mallory"
    mallory = await scene.sapporo.get("/api/spaces/mallory", auth=False)
    assert mallory["version"] == 2 and mallory["name"] == "Mallory v2"
    fed = await scene.federation()
    assert {"author": "mallory", "channel": "pub", "seq": 2} in fed["chains"]
    assert fed["records"] == scene.before["records"] + 1

    # The refused record still holds its place in the chain: mallory's seq 3 follows it.
    v3 = forge(scene.mallory, seq=3, prev=v1.hash, version=3, body=profile(scene.mallory, name="Mallory v3"))
    await inject(scene.js, v3.subject, v3.raw)
    await eventually(lambda: _version_is(scene.sapporo, "mallory", 3))
    assert len(await scene.quarantine()) == 1
    await scene.loop_goes_on()


async def test_equivocation_is_quarantined_and_alerted_and_the_first_record_stays(scene: Scene) -> None:
    """mallory signs two different records at seq 1: the second is refused as equivocation, the operator is alerted, the first stays."""
    one = forge(scene.mallory, body=profile(scene.mallory, name="Mallory One"))
    two = forge(scene.mallory, body=profile(scene.mallory, name="Mallory Two"))
    assert one.hash != two.hash
    await inject(scene.js, one.subject, one.raw)
    await inject(scene.js, two.subject, two.raw)

    row = await scene.quarantined("equivocation")
    assert row["author"] == "mallory" and row["size"] == len(two.raw)

    async def alerted() -> list[dict[str, Any]]:
        alerts = (await scene.sapporo.get("/api/alerts"))["alerts"]
        return [a for a in alerts if a["kind"] == "equivocation" and a["space"] == "mallory"]

    await eventually(alerted)
    mallory = await scene.sapporo.get("/api/spaces/mallory", auth=False)
    assert mallory["version"] == 1 and mallory["name"] == "Mallory One"
    fed = await scene.federation()
    assert {"author": "mallory", "channel": "pub", "seq": 1} in fed["chains"]

    # The held history is the first one: a record chained on it applies.
    nxt = forge(scene.mallory, seq=2, prev=one.hash, version=2, body=profile(scene.mallory, name="Mallory One, v2"))
    await inject(scene.js, nxt.subject, nxt.raw)
    await eventually(lambda: _version_is(scene.sapporo, "mallory", 2))
    assert len(await scene.quarantine()) == 1
    await scene.loop_goes_on()


async def _version_is(space: Space, of: str, want: int) -> bool:
    return await space.space_version(of) == want


async def test_dm_whose_sealed_body_does_not_open_is_quarantined_and_the_loop_goes_on(scene: Scene) -> None:
    """A signed, well-addressed note to sapporo whose ciphertext does not open is quarantined, and kobe's notes still arrive."""
    sapporo = await scene.kobe.get("/api/spaces/sapporo", auth=False)
    record_id, body = sealed_note(scene.mallory, to="sapporo", to_box_key=base64.b64decode(sapporo["box_key"]),
                                  text="boxed, then tampered")
    sealed = msgspec.msgpack.decode(body, type=Sealed)
    tampered = msgspec.msgpack.encode(msgspec.structs.replace(sealed, ciphertext=sealed.ciphertext[:-1] + b"\x00"))
    forged = forge(scene.mallory, kind="note", channel="sapporo", record_id=record_id, body=tampered)
    await inject(scene.js, forged.subject, forged.raw)

    async def refused() -> list[dict[str, Any]]:
        return [q for q in await scene.quarantine() if q["author"] == "mallory"]

    try:
        await eventually(refused)
    except AssertionError as e:
        raise AssertionError(
            "the tampered note reached sapporo's dm consumer but was never quarantined:"
            f" its apply did not commit; quarantine={await scene.quarantine()}"
        ) from e
    assert (await scene.sapporo.get("/api/notes"))["notes"] == []

    await scene.kobe.post("/api/notes", {"to": "sapporo", "text": "after the tampered one"})

    async def delivered() -> list[dict[str, Any]]:
        return list((await scene.sapporo.get("/api/notes"))["notes"])

    (note,) = await eventually(delivered)
    assert note["author"] == "kobe"
    await scene.loop_goes_on()
