"""Privacy on the bus (issue 21): a member's name leaves the node only if the member chose
to be named. The test reads every message the nodes publish, as any bus reader could."""

from __future__ import annotations

from pathlib import Path

import nats
from nats.aio.msg import Msg

from node.bus.embedded import EmbeddedNats
from tests.lab.scene import lab
from tests.spaces import converged


async def test_a_bus_reader_sees_no_member_name_unless_the_member_chose_to_be_named(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """Aiko (not named) and Kenji (named) post in a theme from kobe: every message on the
    bus is read; Aiko's name and both emails appear in none, Kenji's name travels with his
    post; sapporo shows kobe speaking for Aiko and Kenji by name."""
    seen: list[bytes] = []

    async def keep(msg: Msg) -> None:
        seen.append(msg.data)

    reader = await nats.connect(nats_server.client_url)
    try:
        await reader.subscribe(">", cb=keep)
        async with lab(tmp_path, nats_server.client_url) as fed:
            aiko = (await fed.kobe.post("/api/members", {"name": "田中あいこ Aiko", "email": "aiko@example.jp"}))["id"]
            kenji = (await fed.kobe.post("/api/members", {"name": "佐藤けんじ Kenji", "email": "kenji@example.jp",
                                                          "share_name": True}))["id"]
            theme = (await fed.kobe.post("/api/lab/themes", {"title": "会員の声"}))["id"]
            a = (await fed.kobe.post(f"/api/lab/themes/{theme}/posts", {"body": "あいこの意見", "member": aiko}))["id"]
            k = (await fed.kobe.post(f"/api/lab/themes/{theme}/posts", {"body": "けんじの意見", "member": kenji}))["id"]
            await converged(fed.all, timeout=60)
            posts = {p["id"]: p for p in (await fed.sapporo.get(f"/api/lab/themes/{theme}"))["posts"]}
            assert (posts[a]["space"], posts[a]["author_name"]) == ("kobe", "")
            assert (posts[k]["space"], posts[k]["author_name"]) == ("kobe", "佐藤けんじ Kenji")
            await reader.flush()
    finally:
        await reader.close()
    everything = b"\n".join(seen)
    assert "あいこの意見".encode() in everything  # the reader did see the posts
    assert "佐藤けんじ Kenji".encode() in everything
    for secret in ("田中あいこ", "Aiko", "aiko@example.jp", "kenji@example.jp"):
        assert secret.encode() not in everything, f"{secret} left the node"
