"""The apply rules without a bus: two stores, records carried between them by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from node.app.features import DEFAULT, kinds_of
from node.config import Config, SpaceSection
from node.federation import outbox
from node.federation.directory import profile_from_config
from node.federation.identity import Identity
from node.federation.replica import Incoming, Replica
from node.metrics import Metrics
from node.store import Store
from schemas.note import Note


class Side:
    def __init__(self, store: Store, ident: Identity) -> None:
        self.store = store
        self.ident = ident
        self.replica = Replica(store, ident, kinds_of(DEFAULT), Metrics(), max_skew_hours=6)
        self.version = 0

    async def publish_profile(self, **changes: str) -> Incoming:
        cfg = Config(space=SpaceSection(id=self.ident.space, name=changes.pop("name", "Kobe")))
        self.version += 1
        h = await self.store.transact(lambda tx: outbox.append(
            tx, self.ident, kind="space", record_id=self.ident.space, version=self.version,
            body=profile_from_config(cfg, self.ident),
        ))
        return await self.sent(h.channel, h.seq, h.subject())

    async def sent(self, channel: str, seq: int, subject: str) -> Incoming:
        raw = await self.store.scalar(
            "SELECT raw FROM log WHERE author = ? AND channel = ? AND seq = ?",
            (self.ident.space, channel, seq),
        )
        return Incoming(bytes(raw), subject, "test")


@pytest_asyncio.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Side, Side]]:
    async with Store(tmp_path / "kobe.db") as a, Store(tmp_path / "sapporo.db") as b:
        yield Side(a, Identity.generate("kobe")), Side(b, Identity.generate("sapporo"))


async def _chain(side: Side, author: str, channel: str = "pub") -> int:
    return int(await side.store.scalar(
        "SELECT seq FROM chains WHERE author = ? AND channel = ?", (author, channel)) or 0)


async def test_records_arriving_backwards_wait_and_then_apply_in_order(pair: tuple[Side, Side]) -> None:
    """Seq 3 and 2 arrive before 1: they wait as pending, and all apply once 1 arrives."""
    kobe, sapporo = pair
    one, two, three = [await kobe.publish_profile() for _ in range(3)]
    r = await sapporo.replica.apply([three, two])
    assert (r.applied, r.pending) == (0, 2) and r.gaps == {("kobe", "pub"): 0}
    r = await sapporo.replica.apply([one])
    assert r.applied == 3 and not r.gaps
    assert await _chain(sapporo, "kobe") == 3
    assert await sapporo.store.scalar("SELECT version FROM records WHERE author = 'kobe'") == 3


async def test_the_same_envelope_twice_applies_once(pair: tuple[Side, Side]) -> None:
    """At-least-once delivery: the second copy is counted as a duplicate and changes nothing."""
    kobe, sapporo = pair
    one = await kobe.publish_profile()
    first = await sapporo.replica.apply([one])
    again = await sapporo.replica.apply([one, one])
    assert (first.applied, again.applied, again.duplicates, again.quarantined) == (1, 0, 2, 0)


async def test_positions_commit_with_the_batch(pair: tuple[Side, Side]) -> None:
    """The consumer position is written in the same transaction as the records, and never goes back."""
    kobe, sapporo = pair
    await sapporo.replica.apply([await kobe.publish_profile()], {"sapporo-pub": 7})
    await sapporo.replica.apply([], {"sapporo-pub": 5})
    assert await sapporo.store.scalar("SELECT stream_seq FROM positions") == 7


async def test_a_note_opens_only_for_its_recipient(pair: tuple[Side, Side]) -> None:
    """Kobe seals a note to sapporo: sapporo opens it; the raw envelope never holds the text."""
    kobe, sapporo = pair
    await sapporo.replica.apply([await kobe.publish_profile()])
    note = Note(author="kobe", to="sapporo", record_id="n1", version=1, text="秘密の相談")
    h = await kobe.store.transact(lambda tx: outbox.append(
        tx, kobe.ident, kind="note", record_id="n1", version=1, body=note,
        channel="sapporo", recipient_box_key=sapporo.ident.box_key))
    item = await kobe.sent("sapporo", 1, h.subject())
    assert "秘密".encode() not in item.data
    r = await sapporo.replica.apply([item])
    assert r.applied == 1 and await _chain(sapporo, "kobe", "sapporo") == 1


async def test_an_event_id_already_held_for_another_space_is_refused(pair: tuple[Side, Side]) -> None:
    """Mallory publishes an event under kobe's event id: it is quarantined, kobe's stays the one found."""
    import datetime as dt

    from schemas.event import Event

    kobe, sapporo = pair
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    h = await kobe.store.transact(lambda tx: outbox.append(tx, kobe.ident, kind="event", record_id="ev1", version=1, body=Event(
        id="ev1", space="kobe", title="Kobe Jelly", start=start, end=start + dt.timedelta(hours=1))))
    await sapporo.replica.apply([await kobe.sent("pub", h.seq, h.subject())])
    async with Store(sapporo.store.path.with_name("mallory.db")) as mstore:
        mallory = Side(mstore, Identity.generate("mallory"))
        h2 = await mstore.transact(lambda tx: outbox.append(tx, mallory.ident, kind="event", record_id="ev1", version=1, body=Event(
            id="ev1", space="mallory", title="Fake", start=start, end=start + dt.timedelta(hours=1))))
        r = await sapporo.replica.apply([await mallory.sent("pub", h2.seq, h2.subject())])
    assert r.quarantined == 1 and r.applied == 0
    reason = await sapporo.store.scalar("SELECT reason FROM quarantine")
    assert reason.startswith("id_taken")


async def test_a_note_kobe_signed_before_rotating_applies_after_sapporo_took_the_rotation(pair: tuple[Side, Side]) -> None:
    """kobe seals a note, then rotates; sapporo applies the rotation first (its pub chain ran
    ahead of its dm chain): the note, signed by kobe's old key before the rotation, still applies."""
    from node.federation import rotation

    kobe, sapporo = pair
    await sapporo.replica.apply([await kobe.publish_profile()])
    note = Note(author="kobe", to="sapporo", record_id="n1", version=1, text="ローテーション前のメモ")
    h = await kobe.store.transact(lambda tx: outbox.append(
        tx, kobe.ident, kind="note", record_id="n1", version=1, body=note,
        channel="sapporo", recipient_box_key=sapporo.ident.box_key))
    dm = await kobe.sent("sapporo", h.seq, h.subject())
    old_ident = kobe.ident
    new = Identity.generate("kobe")
    body = rotation.KeyRotation(space="kobe", sign_key=new.sign_key, box_key=new.box_key,
                                heads={"pub": 2, "sapporo": 1})
    hr = await kobe.store.transact(lambda tx: outbox.append(
        tx, old_ident, kind="rotation", record_id="kobe", version=1, body=body))
    r = await sapporo.replica.apply([await kobe.sent("pub", hr.seq, hr.subject())])
    assert r.applied == 1
    r = await sapporo.replica.apply([dm])
    assert (r.applied, r.quarantined) == (1, 0), await sapporo.store.all("SELECT reason FROM quarantine")
    assert await _chain(sapporo, "kobe", "sapporo") == 1


async def test_a_forged_record_held_before_the_key_was_known_does_not_block_the_real_one(
    pair: tuple[Side, Side],
) -> None:
    """Mallory forges kobe's seq 2 before sapporo knows kobe; kobe's real seq 1 and 2 then apply,
    with no equivocation blamed on kobe."""
    from tests.forge import forge, profile

    kobe, sapporo = pair
    one, two = await kobe.publish_profile(), await kobe.publish_profile()
    mallory = Identity.generate("kobe")
    fake = forge(mallory, seq=2, prev=b"\x01" * 32, version=2, body=profile(mallory, name="Fake Kobe"))
    r = await sapporo.replica.apply([Incoming(fake.raw, fake.subject, "test")])
    assert r.pending == 1
    await sapporo.replica.apply([one])
    r = await sapporo.replica.apply([two])
    assert r.applied == 1, await sapporo.store.all("SELECT reason FROM quarantine")
    assert await _chain(sapporo, "kobe") == 2
    assert await sapporo.store.scalar("SELECT count(*) FROM alerts") == 0


async def test_a_sync_reply_may_carry_only_what_was_asked(pair: tuple[Side, Side]) -> None:
    """A peer answering "kobe/pub after 1" cannot slip in records of another chain or older seqs."""
    kobe, sapporo = pair
    one, two = await kobe.publish_profile(), await kobe.publish_profile()
    items = [Incoming(one.data, None, "sync:x"), Incoming(two.data, None, "sync:x")]
    r = await sapporo.replica.apply(items, asked=("hakodate", "pub", 0))
    assert (r.applied, r.pending, r.quarantined) == (0, 0, 2)
    r = await sapporo.replica.apply(items, asked=("kobe", "pub", 1))
    assert (r.applied, r.pending) == (0, 1)  # seq 1 was not asked for; seq 2 waits for it
    reasons = [row[0] for row in await sapporo.store.all("SELECT reason FROM quarantine")]
    assert reasons and all(x.startswith("unasked") for x in reasons), reasons


async def test_a_reaction_that_breaks_a_constraint_refuses_its_record_and_the_batch_goes_on(
    pair: tuple[Side, Side],
) -> None:
    """A feature's reaction trips a NOT NULL constraint: that record is quarantined, the next one
    in the same batch applies, and the batch commits (nothing is retried forever)."""
    import msgspec

    from node.federation.kinds import Kind, Kinds
    from node.store import Tx

    class Wave(msgspec.Struct, frozen=True, kw_only=True, tag="wave"):
        text: str

    def clumsy(tx: Tx, *_: object) -> None:
        tx.execute("INSERT INTO alerts (at, kind, space, message) VALUES (NULL, 'x', 'y', 'z')")

    kobe, sapporo = pair
    sapporo.replica = Replica(sapporo.store, sapporo.ident,
                              Kinds([*kinds_of(DEFAULT), Kind(name="wave", body=Wave, on_apply=clumsy)]),
                              Metrics(), max_skew_hours=6)
    first = await kobe.publish_profile()
    h = await kobe.store.transact(lambda tx: outbox.append(tx, kobe.ident, kind="wave", record_id="w1",
                                                           version=1, body=Wave(text="やあ")))
    wave = await kobe.sent("pub", h.seq, h.subject())
    after = await kobe.publish_profile(name="Kobe after")
    r = await sapporo.replica.apply([first, wave, after], {"sapporo-pub": 3})
    assert (r.applied, r.quarantined) == (2, 1)
    assert await _chain(sapporo, "kobe") == 3
    reason = await sapporo.store.scalar("SELECT reason FROM quarantine")
    assert reason.startswith("internal_error"), reason


async def test_records_applied_but_lost_to_a_power_cut_are_taken_again(tmp_path: Path) -> None:
    """Applied records commit without a disk sync. A power cut that loses the last of them
    leaves the server with acks SQLite does not hold: at the next start the consumer is made
    again from SQLite's position and the records come back."""
    import sqlite3

    from node.bus.embedded import EmbeddedNats
    from tests.eventually import eventually
    from tests.spaces import converged, spaces_for

    async with EmbeddedNats(store_dir=tmp_path / "nats", name="kobe") as server:
        async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: server.client_url) as (kobe, sapporo):
            for hours in ("9-18", "9-21", "24/7"):
                await kobe.request("PATCH", "/api/space", {"hours": hours})
            await converged([kobe, sapporo])
            await sapporo.stop()
            # What a power cut does to commits that were not synced: they are not there.
            db = sqlite3.connect(sapporo.dir / "hitode.db")
            with db:
                db.execute("DELETE FROM records WHERE author = 'kobe'")
                db.execute("DELETE FROM log WHERE author = 'kobe'")
                db.execute("DELETE FROM chains WHERE author = 'kobe'")
                db.execute("UPDATE positions SET stream_seq = 0")
            db.close()
            await sapporo.start()

            async def hours() -> str | None:
                got = await sapporo.get("/api/spaces/kobe")
                return str(got["hours"]) if got["hours"] == "24/7" else None

            assert await eventually(hours, timeout=30) == "24/7"
            await converged([kobe, sapporo])
            assert "taking them again" in (sapporo.dir / "node.log").read_text()
