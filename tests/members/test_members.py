"""Members of a space, edited over HTTP on a real node process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from node.bus.embedded import EmbeddedNats
from tests.spaces import HttpError, spaces_for


async def test_concurrent_patches_of_different_fields_of_one_member_both_stick(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """Two admins edit one member at once, one the name and one the skills; afterwards both edits are there.

    Each round sends the two PATCHes together, so their read-merge-write runs overlap; a
    patch that merges onto a stale read writes the other field back to its old value.
    """
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (kobe,):
        member = await kobe.post("/api/members", {"name": "Aiko", "skills": ["knitting"]})
        path = f"/api/members/{member['id']}"
        for i in range(20):
            await asyncio.gather(
                kobe.request("PATCH", path, {"name": f"Aiko {i}"}),
                kobe.request("PATCH", path, {"skills": [f"skill {i}"]}),
            )
            after = await kobe.get(path)
            assert (after["name"], after["skills"]) == (f"Aiko {i}", [f"skill {i}"]), f"round {i}: {after}"


async def test_patching_a_member_that_does_not_exist_is_a_404(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """The member is looked up inside the write transaction; missing, the PATCH is a 404 naming the id field."""
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (kobe,):
        with pytest.raises(HttpError) as caught:
            await kobe.request("PATCH", "/api/members/nobody", {"name": "Ghost"})
        assert caught.value.status == 404
        assert caught.value.body["error"]["field"] == "id"
        assert (await kobe.get("/api/members"))["members"] == []
