"""Key rotation: a space replaces its keys; peers follow the signed rotation; the old key is refused after."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nats

from node.bus.embedded import EmbeddedNats
from node.federation.identity import Identity
from tests.eventually import eventually
from tests.forge import forge, inject, prev_of, profile
from tests.spaces import converged, spaces_for


async def test_sapporo_follows_kobes_key_rotation_and_refuses_the_old_key(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """Kobe rotates its keys while stopped; its next edit applies at sapporo; a record signed by the old key is quarantined."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await converged([kobe, sapporo])
        old_key = (await sapporo.get("/api/spaces/kobe"))["sign_key"]
        await kobe.stop()
        r = subprocess.run([sys.executable, "-m", "node", "rotate-keys", "--dir", str(kobe.dir)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        (old_file,) = kobe.dir.glob("signing.key.old-*")
        await kobe.start()
        await kobe.put("/api/space", {"hours": "after rotation"})

        async def followed() -> bool:
            p = await sapporo.get("/api/spaces/kobe")
            return bool(p["hours"] == "after rotation" and p["sign_key"] != old_key)

        await eventually(followed, timeout=20)
        assert (await sapporo.get("/api/quarantine"))["quarantine"] == []
        await converged([kobe, sapporo])

        # Someone holding the old key tries to go on signing as kobe.
        old = Identity.load_files("kobe", old_file, next(kobe.dir.glob("box.key.old-*")))
        nc = await nats.connect(nats_server.client_url)
        try:
            js = nc.jetstream()
            last = await js.get_last_msg("HITODE", "hitode.pub.space.kobe")
            chains = (await sapporo.get("/api/federation"))["chains"]
            seq = next(c["seq"] for c in chains if c["author"] == "kobe" and c["channel"] == "pub")
            forged = forge(old, seq=seq + 1, prev=prev_of(last.data), version=99,
                           body=profile(old, name="Stolen"))
            await inject(js, forged.subject, forged.raw)
        finally:
            await nc.close()

        async def refused() -> bool:
            rows = (await sapporo.get("/api/quarantine"))["quarantine"]
            return any(q["reason"].startswith("key_mismatch") for q in rows)

        await eventually(refused)
        assert (await sapporo.get("/api/spaces/kobe"))["name"] != "Stolen"


async def test_an_interrupted_rotation_is_finished_or_undone_at_the_next_start(tmp_path: Path) -> None:
    """New keys written but no rotation committed: dropped. Rotation committed but files not swapped: swapped."""
    from node.app.setup import init_space
    from node.federation import rotation
    from node.store import Store

    d = tmp_path / "kobe"
    init_space(d, space="kobe", name="Kobe")
    before = Identity.load("kobe", d).sign_key
    Identity.generate("kobe").write_files(d / "signing.key.next", d / "box.key.next")
    async with Store(d / "hitode.db") as store:
        await rotation.finish(d, store, "kobe")
        assert not (d / "signing.key.next").exists()
        assert Identity.load("kobe", d).sign_key == before

        new = await rotation.rotate(d, store, "kobe")
        assert Identity.load("kobe", d).sign_key == new.sign_key != before
        # as if it had crashed just before swapping the files in
        (d / "signing.key").rename(d / "signing.key.next")
        (d / "box.key").rename(d / "box.key.next")
        for old in d.glob("*.old-*"):
            old.rename(d / old.name.split(".old-")[0])
        assert Identity.load("kobe", d).sign_key == before
        await rotation.finish(d, store, "kobe")
        assert Identity.load("kobe", d).sign_key == new.sign_key
