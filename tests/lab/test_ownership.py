"""Only the author changes a LAB record (issue 21, DESIGN §3.1): another space's edit is
refused at its own node over HTTP, and, forged on the bus by a space with valid keys of
its own, refused by every node through the kernel's ownership rule (an id belongs to its
first author at every version). Bad input is a clear 4xx and changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import nats
import pytest

from node.bus.embedded import EmbeddedNats
from node.federation.identity import Identity
from schemas.lab import Post
from tests.eventually import eventually
from tests.forge import forge, inject
from tests.lab.scene import discuss, lab
from tests.spaces import HttpError, Space, spaces_for


async def _refused(space: Space, method: str, path: str, body: object, status: int, field: str) -> None:
    with pytest.raises(HttpError) as e:
        await space.request(method, path, body)
    assert e.value.status == status, e.value.body
    assert e.value.body["error"]["field"] == field, e.value.body


async def test_an_edit_of_another_spaces_post_is_refused_locally_and_forged_on_the_bus_rejected_by_every_node(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """sapporo's operator tries to edit and to retract kobe's post: 403, nothing sent.
    mallory, a space with keys of its own, publishes a "version 2" of kobe's post under
    its id: every node quarantines it (id_taken) and still shows kobe's words. mallory's
    blank post is quarantined too, with its reason."""
    async with lab(tmp_path, nats_server.client_url) as fed:
        d = await discuss(fed)
        before = await fed.sapporo.digest()
        await _refused(fed.sapporo, "PATCH", f"/api/lab/posts/{d.kobe_post}", {"body": "書き換えた"}, 403, "id")
        await _refused(fed.sapporo, "POST", f"/api/lab/posts/{d.kobe_post}/retract", None, 403, "id")
        await _refused(fed.sapporo, "PATCH", f"/api/lab/themes/{d.theme}", {"title": "乗っ取り"}, 403, "id")
        assert await fed.sapporo.digest() == before

        mallory = Identity.generate("mallory")
        now = dt.datetime.now(dt.UTC)
        space = forge(mallory)
        fake = Post(id=d.kobe_post, space="mallory", theme=d.theme, body="神戸は学生割をやめました(偽)",
                    created_at=now, updated_at=now)
        edit = forge(mallory, kind="lab_post", seq=2, prev=space.hash, record_id=d.kobe_post, version=2, body=fake)
        blank = Post(id="mallory-blank", space="mallory", theme=d.theme, body=" ", created_at=now, updated_at=now)
        bad = forge(mallory, kind="lab_post", seq=3, prev=edit.hash, record_id="mallory-blank", body=blank)
        nc = await nats.connect(nats_server.client_url)
        try:
            for f in (space, edit, bad):
                await inject(nc.jetstream(), f.subject, f.raw)
        finally:
            await nc.close()

        async def refused_at(s: Space) -> bool:
            reasons = sorted(q["reason"] for q in (await s.get("/api/quarantine"))["quarantine"]
                             if q["subject"] == "hitode.pub.lab_post.mallory")
            assert len(reasons) == 2, reasons
            return reasons[0] == "bad_body: lab_post body: must not be blank" and reasons[1].startswith("id_taken: ")

        for s in fed.all:
            await eventually(lambda: refused_at(s), timeout=30)
            post = await s.get(f"/api/lab/posts/{d.kobe_post}")
            assert (post["space"], post["body"], post["version"]) == ("kobe", "神戸では平日昼の学生割を試しました。", 1)
            assert (await s.get("/api/lab/search?q=偽"))["results"] == []


async def test_bad_input_is_a_clear_4xx_naming_the_field_and_changes_nothing(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """An empty title or body, a reply to a retracted post, a reply to a reply, a post in an
    unknown theme, a meeting that is no event, an unknown member: each refused with the field
    named; the node's records are as they were."""
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (kobe,):
        theme = (await kobe.post("/api/lab/themes", {"title": "料金"}))["id"]
        post = (await kobe.post(f"/api/lab/themes/{theme}/posts", {"body": "最初の投稿"}))["id"]
        reply = (await kobe.post(f"/api/lab/themes/{theme}/posts", {"body": "返信", "reply_to": post}))["id"]
        gone = (await kobe.post(f"/api/lab/themes/{theme}/posts", {"body": "取り消す投稿"}))["id"]
        await kobe.post(f"/api/lab/posts/{gone}/retract", None)
        await eventually(lambda: kobe.get("/healthz"))
        before = await kobe.digest()
        await _refused(kobe, "POST", "/api/lab/themes", {"title": ""}, 400, "title")
        await _refused(kobe, "POST", "/api/lab/themes", {"title": "   "}, 400, "title")
        await _refused(kobe, "POST", "/api/lab/themes", {"title": "会議", "meeting": "no-such-event"}, 422, "meeting")
        await _refused(kobe, "POST", f"/api/lab/themes/{theme}/posts", {"body": ""}, 400, "body")
        await _refused(kobe, "POST", f"/api/lab/themes/{theme}/posts", {"body": "\n \n"}, 400, "body")
        await _refused(kobe, "POST", f"/api/lab/themes/{theme}/posts", {"body": "返信", "reply_to": gone}, 422, "reply_to")
        await _refused(kobe, "POST", f"/api/lab/themes/{theme}/posts", {"body": "孫返信", "reply_to": reply}, 422, "reply_to")
        await _refused(kobe, "POST", f"/api/lab/themes/{theme}/posts", {"body": "誰?", "member": "nobody"}, 422, "member")
        await _refused(kobe, "POST", "/api/lab/themes/no-such-theme/posts", {"body": "どこ?"}, 404, "id")
        await _refused(kobe, "PATCH", f"/api/lab/posts/{post}", {"body": ""}, 400, "body")
        await _refused(kobe, "PATCH", f"/api/lab/posts/{gone}", {"body": "復活"}, 409, "id")
        await _refused(kobe, "POST", f"/api/lab/themes/{theme}/reports", {"title": "実験", "tried": ""}, 400, "tried")
        await _refused(kobe, "POST", f"/api/lab/themes/{theme}/reports",
                       {"title": "実験", "tried": "x", "links": ["javascript:alert(1)"]}, 400, "links[0]")
        await _refused(kobe, "POST", "/api/lab/labels", {"subject": "no-such-record", "label": "hide"}, 404, "subject")
        await _refused(kobe, "POST", "/api/lab/labels", {"subject": post, "label": "hide", "undo": True}, 422, "undo")
        assert await kobe.digest() == before
        await kobe.request("PATCH", f"/api/lab/themes/{theme}", {"status": "closed"})
        await _refused(kobe, "POST", f"/api/lab/themes/{theme}/posts", {"body": "閉じた後"}, 409, "id")
        assert (await kobe.post(f"/api/lab/themes/{theme}/reports", {"title": "閉じた後の報告", "tried": "試した"}))["status"] == "posted"
