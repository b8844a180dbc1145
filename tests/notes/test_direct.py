"""Sealed direct records: a note from kobe reaches sapporo only, and the bus never shows it."""

from __future__ import annotations

from pathlib import Path

import nats

from node.bus.cluster import NatsCluster
from tests.eventually import eventually
from tests.spaces import HttpError, spaces_for

NAMES = ["kobe", "sapporo", "hakodate"]
SECRET = "来月の同時開催Jelly、会場費は折半で / split the venue cost"


async def test_note_from_kobe_is_opened_at_sapporo_only(tmp_path: Path, nats_cluster: NatsCluster) -> None:
    """Kobe sends sapporo a note: sapporo reads it, hakodate never holds it nor sees a gap, the stream holds no plaintext."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo, hakodate):
        await eventually(lambda: kobe.space_version("sapporo"))
        sent = await kobe.post("/api/notes", {"to": "sapporo", "subject": "Jelly", "text": SECRET})
        assert sent["author"] == "kobe" and sent["to"] == "sapporo"

        async def received() -> list[dict[str, object]]:
            return [n for n in (await sapporo.get("/api/notes"))["notes"] if n["text"] == SECRET]

        (note,) = await eventually(received)
        assert note["direction"] == "in" and note["author"] == "kobe"
        assert (await kobe.get("/api/notes"))["notes"][0]["direction"] == "out"

        # A later public record from kobe still reaches hakodate, with no gap on kobe's chain.
        await kobe.put("/api/space", {"hours": "after the note"})
        await eventually(lambda: _hours(hakodate, "after the note"))
        assert (await hakodate.get("/api/notes"))["notes"] == []
        chains = (await hakodate.get("/api/federation"))["chains"]
        assert not [c for c in chains if c["channel"] != "pub"]
        assert (await hakodate.get("/healthz"))["replica_lag"]["pending"] == 0

        nc = await nats.connect(nats_cluster["hakodate"].client_url)
        try:
            msg = await nc.jetstream().get_last_msg("HITODE", "hitode.dm.sapporo.note.kobe")
            assert msg.data and SECRET.encode() not in msg.data and b"Jelly" not in msg.data
        finally:
            await nc.close()


async def test_note_to_an_unknown_space_names_the_field(tmp_path: Path, nats_cluster: NatsCluster) -> None:
    """A note to a space not in the directory is a 404 naming `to`, and nothing is queued."""
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_cluster[n].client_url, replicas=3) as (kobe,):
        try:
            await kobe.post("/api/notes", {"to": "nowhere", "text": "hello"})
        except HttpError as e:
            assert e.status == 404 and e.body["error"]["field"] == "to"
        else:
            raise AssertionError("a note to an unknown space was accepted")
        try:
            await kobe.post("/api/notes", {"to": "kobe", "text": "hello", "colour": "red"})
        except HttpError as e:
            assert e.status == 400 and "colour" in e.body["error"]["message"]
        else:
            raise AssertionError("an unknown field was accepted")
        assert (await kobe.get("/healthz"))["outbox_backlog"] in (0, 1)  # at most its own profile


async def _hours(space: object, want: str) -> bool:
    return bool((await space.get("/api/spaces/kobe"))["hours"] == want)  # type: ignore[attr-defined]
