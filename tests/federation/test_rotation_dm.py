"""Key rotation and sealed direct records: no note is lost because its recipient changed keys.

A dm is sealed to the recipient's box key as the sender knows it when the note is
written; a rotation reaches the sender later. The recipient must still open what was
sealed to its old key, and the sender must seal to the box key a rotation names.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import nats

from node.bus.cluster import NatsCluster
from node.bus.embedded import EmbeddedNats
from node.errors import Rejected
from node.federation.identity import Identity
from schemas.envelope import DOMAIN_TAG, Envelope, Sealed, Signed
from schemas.note import Note
from schemas.note import Note as _Note
from schemas.space import KeyRotation
from tests.eventually import eventually
from tests.forge import forge, inject
from tests.spaces import Space, converged, spaces_for


def rotate_keys(space: Space) -> None:
    r = subprocess.run([sys.executable, "-m", "node", "rotate-keys", "--dir", str(space.dir)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


async def _health_is(space: Space, key: str, want: object) -> bool:
    return bool((await space.get("/healthz"))[key] == want)


async def _notes(space: Space, text: str) -> list[dict[str, Any]]:
    return [n for n in (await space.get("/api/notes"))["notes"] if n["text"] == text]


async def _quarantined_from(space: Space, author: str) -> list[dict[str, Any]]:
    return [q for q in (await space.get("/api/quarantine"))["quarantine"] if q["author"] == author]


async def test_note_sealed_to_sapporos_old_box_key_before_kobe_saw_the_rotation_still_opens_at_sapporo(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe is cut off while sapporo rotates its keys; kobe's note, sealed to sapporo's old box key, opens at sapporo once kobe is back."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_cluster[n].client_url, replicas=3) as (kobe, sapporo):
        await eventually(lambda: kobe.space_version("sapporo"))
        await converged([kobe, sapporo])
        old_box = (await kobe.get("/api/spaces/sapporo"))["box_key"]

        await nats_cluster["kobe"].stop()
        await eventually(lambda: _health_is(kobe, "bus", "disconnected"))
        await sapporo.stop()
        rotate_keys(sapporo)
        await sapporo.start()
        await eventually(lambda: _health_is(sapporo, "outbox_backlog", 0))  # rotation and new profile are out

        text = "sealed before kobe heard of the rotation"
        await kobe.post("/api/notes", {"to": "sapporo", "text": text})
        assert (await kobe.get("/api/spaces/sapporo"))["box_key"] == old_box  # so it is sealed to the old key

        await nats_cluster["kobe"].start()
        await nats_cluster["kobe"].wait_healthy()

        async def opened_or_refused() -> bool:
            return bool(await _notes(sapporo, text) or await _quarantined_from(sapporo, "kobe"))

        await eventually(opened_or_refused, timeout=30)
        refused = await _quarantined_from(sapporo, "kobe")
        assert refused == [], f"sapporo refused kobe's note: {[q['reason'] for q in refused]}"
        (note,) = await _notes(sapporo, text)
        assert note["author"] == "kobe" and note["direction"] == "in"

        # Once kobe follows the rotation, its next note is sealed to the new key and opens too.
        await eventually(lambda: _health_is(kobe, "outbox_backlog", 0))
        await converged([kobe, sapporo])
        assert (await kobe.get("/api/spaces/sapporo"))["box_key"] != old_box
        await kobe.post("/api/notes", {"to": "sapporo", "text": "after the rotation"})
        await eventually(lambda: _notes(sapporo, "after the rotation"))
        assert await _quarantined_from(sapporo, "kobe") == []


async def test_note_to_a_space_whose_rotation_kobe_applied_is_sealed_to_the_box_key_the_rotation_names(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """Osaka's rotation reaches kobe before any new profile of osaka: kobe's next note to osaka opens with osaka's new box key."""
    old, new = Identity.generate("osaka"), Identity.generate("osaka")
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (kobe,):
        nc = await nats.connect(nats_server.client_url)
        try:
            js = nc.jetstream()
            profile = forge(old)
            rotation = forge(old, kind="rotation", seq=2, prev=profile.hash, record_id="osaka",
                             body=KeyRotation(space="osaka", sign_key=new.sign_key, box_key=new.box_key))
            for f in (profile, rotation):
                await inject(js, f.subject, f.raw)

            async def rotation_applied() -> bool:
                chains = (await kobe.get("/api/federation"))["chains"]
                return {"author": "osaka", "channel": "pub", "seq": 2} in chains

            await eventually(rotation_applied)
            assert await _quarantined_from(kobe, "osaka") == []

            text = "for osaka's new key"
            await kobe.post("/api/notes", {"to": "osaka", "text": text})

            async def on_the_bus() -> bytes:
                return bytes((await js.get_last_msg("HITODE", "hitode.dm.osaka.note.kobe")).data or b"")

            raw = await eventually(on_the_bus)
        finally:
            await nc.close()

    env = msgspec.msgpack.decode(raw, type=Envelope)
    sealed = msgspec.msgpack.decode(
        msgspec.msgpack.decode(env.signed[len(DOMAIN_TAG):], type=Signed).body, type=Sealed)
    opens = {name: _open(ident, sealed) for name, ident in (("new", new), ("old", old))}
    assert opens["new"] is not None, (
        "kobe sealed the note to osaka's old box key, not the one its rotation names"
        if opens["old"] is not None else "kobe's note opens with neither of osaka's box keys")
    note = msgspec.msgpack.decode(opens["new"], type=_Note)
    assert isinstance(note, Note) and note.text == text


def _open(ident: Identity, sealed: Sealed) -> bytes | None:
    try:
        return ident.unseal(sealed.nonce, sealed.ciphertext, sealed.box_key)
    except Rejected:
        return None
