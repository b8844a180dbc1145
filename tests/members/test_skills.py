"""A member's skills as matching reads them: which are shared, availability, region; old JSON still works."""

from __future__ import annotations

from pathlib import Path

from node.bus.embedded import EmbeddedNats
from tests.spaces import HttpError, spaces_for


async def test_a_member_shares_some_of_their_skills_and_old_member_json_still_works(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """A member posted as before (name, skills) shares nothing and is available; sharing a skill
    the member lacks is refused naming the field; dropping a skill drops its sharing."""
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (kobe,):
        old = await kobe.post("/api/members", {"name": "Aiko", "share_name": True, "skills": ["design", "会計"]})
        assert (old["shared_skills"], old["availability"], old["region"]) == ([], "available", "")
        path = f"/api/members/{old['id']}"
        try:
            await kobe.request("PATCH", path, {"shared_skills": ["translation"]})
            raise AssertionError("a skill the member lacks was shared")
        except HttpError as e:
            assert e.status == 422 and e.body["error"]["field"] == "shared_skills"
        assert (await kobe.get(path))["shared_skills"] == []
        got = await kobe.request("PATCH", path, {"shared_skills": ["design", "会計"], "availability": "busy", "region": "神戸"})
        assert (got["shared_skills"], got["availability"], got["region"]) == (["design", "会計"], "busy", "神戸")
        got = await kobe.request("PATCH", path, {"skills": ["会計"]})
        assert got["shared_skills"] == ["会計"]
        try:
            await kobe.post("/api/members", {"name": "Ken", "skills": ["x"], "shared_skills": ["y"]})
            raise AssertionError("a skill the member lacks was shared")
        except HttpError as e:
            assert e.status == 422 and e.body["error"]["field"] == "shared_skills"
        assert len((await kobe.get("/api/members"))["members"]) == 1
