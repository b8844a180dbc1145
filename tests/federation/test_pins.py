"""Pins from config: a peer's key pinned ahead of time, and that peer rotating its keys later.

A pin in config.toml says which key a space starts from; a rotation signed by that key
moves the pin on. Restarting the node must not move it back.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from node.bus.embedded import EmbeddedNats
from node.federation.identity import Identity
from tests.eventually import eventually
from tests.spaces import HttpError, Space, converged

SOON = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).replace(hour=1, minute=0, second=0, microsecond=0)


def pin(space: Space, of: str, sign_key: bytes) -> None:
    """Pin `of`'s signing key in `space`'s config.toml ([[pins]]), as an operator would."""
    cfg = space.dir / "config.toml"
    raw = tomllib.loads(cfg.read_text())
    raw["pins"] = [*raw.get("pins", []), {"space": of, "sign_key": base64.b64encode(sign_key).decode()}]
    cfg.write_text(tomli_w.dumps(raw))


def rotate_keys(space: Space) -> None:
    r = subprocess.run([sys.executable, "-m", "node", "rotate-keys", "--dir", str(space.dir)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


async def _quarantined_from(space: Space, author: str) -> list[dict[str, Any]]:
    return [q for q in (await space.get("/api/quarantine"))["quarantine"] if q["author"] == author]


async def test_kobe_pinned_in_sapporos_config_rotates_its_keys_and_sapporo_still_follows_after_a_restart(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """Sapporo pins kobe's key in config and follows kobe's rotation; after sapporo restarts, kobe's next event still arrives and nothing of kobe's is quarantined."""
    kobe = Space(tmp_path / "kobe", "kobe", nats_server.client_url)
    sapporo = Space(tmp_path / "sapporo", "sapporo", nats_server.client_url)
    first_key = Identity.load("kobe", kobe.dir).sign_key
    pin(sapporo, "kobe", first_key)
    try:
        await asyncio.gather(kobe.start(), sapporo.start())
        await eventually(lambda: sapporo.space_version("kobe"))
        await converged([kobe, sapporo])

        await kobe.stop()
        rotate_keys(kobe)
        await kobe.start()

        async def followed() -> bool:
            p = await sapporo.get("/api/spaces/kobe")
            return bool(p["sign_key"] != base64.b64encode(first_key).decode())

        await eventually(followed)  # kobe's new profile is signed by the new key: the pin moved
        await converged([kobe, sapporo])
        assert await _quarantined_from(sapporo, "kobe") == []

        await sapporo.stop()
        await sapporo.start()
        e = await kobe.post("/api/events", {"title": "Jelly after the rotation", "start": SOON.isoformat(),
                                            "end": (SOON + dt.timedelta(hours=3)).isoformat()})

        async def arrived_or_refused() -> bool:
            try:
                await sapporo.get(f"/api/events/{e['id']}")
                return True
            except HttpError:
                return bool(await _quarantined_from(sapporo, "kobe"))

        await eventually(arrived_or_refused)
        refused = await _quarantined_from(sapporo, "kobe")
        assert refused == [], f"after its restart sapporo refuses kobe's records: {[q['reason'] for q in refused]}"
        got = await sapporo.get(f"/api/events/{e['id']}")
        assert got["title"] == "Jelly after the rotation"
        await converged([kobe, sapporo])
    finally:
        await asyncio.gather(kobe.close(), sapporo.close(), return_exceptions=True)
