"""GET /api/federation: public chain heads for anyone, dm chain heads (who writes to whom) only with the token."""

from __future__ import annotations

from pathlib import Path

from node.bus.embedded import EmbeddedNats
from tests.eventually import eventually
from tests.spaces import spaces_for


def _dm(chains: list[dict[str, object]]) -> list[dict[str, object]]:
    return [c for c in chains if c["channel"] != "pub"]


async def test_federation_lists_dm_chains_only_with_the_token(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """After kobe sends sapporo a sealed note, neither node lists the kobe→sapporo chain without the token; both do with it."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await eventually(lambda: kobe.space_version("sapporo"), timeout=20)
        await kobe.post("/api/notes", {"to": "sapporo", "text": "venue cost, split"})

        async def received() -> bool:
            return bool((await sapporo.get("/api/notes"))["notes"])

        await eventually(received)
        dm = {"author": "kobe", "channel": "sapporo", "seq": 1}
        for node in (kobe, sapporo):
            private = (await node.get("/api/federation"))["chains"]
            assert dm in private, f"{node.id} does not list {dm} with the token: {private}"
            public = await node.get("/api/federation", auth=False)
            assert _dm(public["chains"]) == [], f"{node.id} shows dm chains to anyone: {_dm(public['chains'])}"
            assert {"author": "kobe", "channel": "pub", "seq": 1} in public["chains"]

