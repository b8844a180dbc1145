"""Moderation without a centre (DESIGN §12): a space's labels change its own view only,
reach every node as records, and a node may follow another space's labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.bus.embedded import EmbeddedNats
from tests.lab.scene import Lab, discuss, lab
from tests.spaces import Space, converged


async def _post_ids(space: Space, theme: str, query: str = "") -> list[str]:
    got = await space.get(f"/api/lab/themes/{theme}{query}", auth=False)
    return [p["id"] for p in got["posts"]]


async def _label(space: Space, subject: str, label: str, *, undo: bool = False) -> dict[str, Any]:
    return dict(await space.post("/api/lab/labels", {"subject": subject, "label": label, "undo": undo}))


async def _everyone(fed: Lab) -> None:
    await converged(fed.all, timeout=60)


async def test_sapporo_hides_a_post_kobe_and_hakodate_still_show_it_and_sapporo_undoes_it(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """sapporo hides kobe's post (and with it the reply under it) in its view: kobe and
    hakodate, which hold sapporo's label too, still show both; sapporo's search leaves it
    out; sapporo undoes the label and shows the post again, at the same place."""
    async with lab(tmp_path, nats_server.client_url) as fed:
        d = await discuss(fed)
        full = [d.kobe_post, d.sapporo_post]
        hidden = await _label(fed.sapporo, d.kobe_post, "hide")
        assert (hidden["space"], hidden["label"], hidden["undone"], hidden["version"]) == ("sapporo", "hide", False, 1)
        await _everyone(fed)
        assert await _post_ids(fed.sapporo, d.theme) == [d.sapporo_post]
        for s in (fed.kobe, fed.hakodate):
            assert await _post_ids(s, d.theme) == full
            held = (await s.get(f"/api/lab/themes/{d.theme}"))["posts"][0]
            assert (held["hidden"], held["labels"], [r["id"] for r in held["replies"]]) == (False, {}, [d.reply])
        flagged = (await fed.sapporo.get(f"/api/lab/themes/{d.theme}?hidden=1"))["posts"][0]
        assert (flagged["id"], flagged["hidden"], flagged["labels"]) == (d.kobe_post, True, {"hide": "sapporo"})
        assert d.kobe_post not in [r["id"] for r in (await fed.sapporo.get("/api/lab/search?q=平日昼"))["results"]]
        assert d.kobe_post in [r["id"] for r in (await fed.kobe.get("/api/lab/search?q=平日昼"))["results"]]

        undone = await _label(fed.sapporo, d.kobe_post, "hide", undo=True)
        assert (undone["undone"], undone["version"]) == (True, 2)
        await _everyone(fed)
        for s in fed.all:
            assert await _post_ids(s, d.theme) == full
        assert (await fed.sapporo.get("/api/lab/labels"))["labels"][0]["undone"] is True


async def test_hakodate_follows_sapporos_labels_and_its_own_word_wins(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """hakodate follows sapporo's hides and pins: sapporo's hide of kobe's post and pin of
    its own post shape hakodate's view too, never kobe's; hakodate approves kobe's post and
    shows it again; unfollowing leaves only hakodate's own labels."""
    async with lab(tmp_path, nats_server.client_url) as fed:
        d = await discuss(fed)
        before = await fed.hakodate.digest()
        followed = await fed.hakodate.put("/api/lab/follows/sapporo", {"labels": ["hide", "pin"]})
        assert (followed["space"], followed["labels"]) == ("sapporo", ["hide", "pin"])
        assert await fed.hakodate.digest() == before  # a follow is this node's own setting: nothing is published
        await _label(fed.sapporo, d.kobe_post, "hide")
        await _label(fed.sapporo, d.sapporo_post, "pin")
        await _everyone(fed)
        assert await _post_ids(fed.hakodate, d.theme) == [d.sapporo_post]
        pinned = (await fed.hakodate.get(f"/api/lab/themes/{d.theme}"))["posts"][0]
        assert (pinned["pinned"], pinned["labels"]) == (True, {"pin": "sapporo"})
        assert await _post_ids(fed.kobe, d.theme) == [d.kobe_post, d.sapporo_post]

        await _label(fed.hakodate, d.kobe_post, "approve")
        assert await _post_ids(fed.hakodate, d.theme) == [d.sapporo_post, d.kobe_post]  # the pin first
        await fed.hakodate.put("/api/lab/follows/sapporo", {"labels": []})
        assert (await fed.hakodate.get("/api/lab/follows"))["follows"] == []
        assert await _post_ids(fed.hakodate, d.theme) == [d.kobe_post, d.sapporo_post]
