"""A member's skills as matching reads them: which are shared, availability, region; old JSON still works."""

from __future__ import annotations

from pathlib import Path

from node.bus.embedded import EmbeddedNats
from tests.events.operator import operator
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


async def test_the_member_form_takes_shared_skills_availability_and_region_and_says_where_they_go(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """On the member's page the operator shares one skill, marks the member busy in 神戸; a shared
    skill the member lacks is refused next to its field, with what was typed kept."""
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (kobe,):
        m = await kobe.post("/api/members", {"name": "青木 愛子", "skills": ["会計", "写真"]})
        async with operator(kobe, "ja") as op:
            html = await op.page(f"/members/{m['id']}")
            assert "依頼したスペースにだけ送られます" in html and 'id="f-availability"' in html
            form = {"name": "青木 愛子", "email": "", "skills": "会計\n写真", "availability": "busy", "region": "神戸"}
            _, body = await op.form(f"/members/{m['id']}", {**form, "shared_skills": "翻訳"}, status=422)
            assert 'id="e-shared_skills"' in body and "翻訳" in body
            assert (await kobe.get(f"/api/members/{m['id']}"))["availability"] == "available"
            await op.form(f"/members/{m['id']}", {**form, "shared_skills": "写真"})
        got = await kobe.get(f"/api/members/{m['id']}")
        assert (got["shared_skills"], got["availability"], got["region"]) == (["写真"], "busy", "神戸")
