"""Requests for mutual help across three spaces: posted once, matched locally, answered, closed.

Real `hitode run` processes on a real three-server JetStream cluster; every check goes
through HTTP, and the privacy check reads every message stream HITODE holds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import nats

from node.bus.cluster import NatsCluster
from tests.eventually import eventually
from tests.spaces import HttpError, Space, converged, spaces_for

NAMES = ["kobe", "sapporo", "hakodate"]
TITLE = "ウェブサイト制作を手伝ってくれる人"


def later(days: int = 14) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def web_request(**over: Any) -> dict[str, Any]:
    base = {"kind": "help", "title": TITLE, "body": "商店街の店のサイトを一緒に作ってほしい",
            "skills": ["ウェブ制作"], "region": "神戸", "online_ok": True, "deadline": later(), "reward": "paid"}
    return {**base, **over}


async def member(space: Space, name: str, skills: list[str], *, shared: list[str] | None = None,
                 share_name: bool = True, **over: Any) -> str:
    body = {"name": name, "email": f"{abs(hash(name)) % 10**8}@example.jp", "share_name": share_name,
            "skills": skills, "shared_skills": skills if shared is None else shared, **over}
    return str((await space.post("/api/members", body))["id"])


async def has_request(space: Space, request_id: str, **want: Any) -> dict[str, Any] | None:
    try:
        r = dict(await space.get(f"/api/requests/{request_id}"))
    except HttpError:
        return None
    return r if all(r.get(k) == v for k, v in want.items()) else None


async def test_a_request_posted_at_kobe_is_matched_at_each_space_against_its_own_members(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe's request appears at sapporo and hakodate; sapporo ranks its members by skill
    (web制作, Web 制作 and ｳｪﾌﾞ制作 all fit ウェブ制作), region and availability; hakodate lists only its own."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo, hakodate = spaces
        asker = await member(kobe, "神戸 太郎", ["営業"])
        a = await member(sapporo, "札幌 一郎", ["web制作", "デザイン"], region="神戸")
        b = await member(sapporo, "札幌 二郎", ["Web 制作"])
        c = await member(sapporo, "札幌 三郎", ["ｳｪﾌﾞ制作"], availability="busy")
        await member(sapporo, "札幌 四郎", ["ｳｪﾌﾞ制作"], availability="away")
        await member(sapporo, "札幌 五郎", ["会計"])
        h = await member(hakodate, "函館 花子", ["web development"])
        req = await kobe.post("/api/requests", web_request(member=asker))
        assert req["status"] == "open" and req["version"] == 1 and req["member"].startswith("m-")
        assert req["display_name"] == "神戸 太郎"
        for s in (sapporo, hakodate):
            await eventually(lambda s=s: has_request(s, req["id"], title=TITLE), timeout=30)
        got = (await sapporo.get(f"/api/requests/{req['id']}/matches"))["matches"]
        assert [m["member"] for m in got] == [a, b, c]  # same region first, busy last, away left out
        assert got[0]["skills"] == ["web制作"] and got[1]["skills"] == ["Web 制作"] and got[2]["skills"] == ["ｳｪﾌﾞ制作"]
        assert got[0]["score"] > got[1]["score"] > got[2]["score"]
        here = (await hakodate.get(f"/api/requests/{req['id']}/matches"))["matches"]
        assert [m["member"] for m in here] == [h]
        # the other way round: a member added later finds the open request by the index
        d = await member(hakodate, "函館 次郎", ["ホームページ制作"])
        fits = (await hakodate.get(f"/api/members/{d}/requests"))["requests"]
        assert [f["request"] for f in fits] == [req["id"]]
        try:
            await sapporo.get(f"/api/requests/{req['id']}/matches", auth=False)
            raise AssertionError("matches are the operator's only")
        except HttpError as e:
            assert e.status == 401


async def test_sapporo_offers_hakodate_refers_kobe_accepts_and_closes_everywhere(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Sapporo offers a member, hakodate refers kobe to sapporo; kobe sees both, accepts the
    offer and closes; the close reaches every space and sapporo sees its offer accepted."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo, hakodate = spaces
        helper = await member(sapporo, "札幌 一郎", ["web制作", "確定申告"], shared=["web制作"])
        req = await kobe.post("/api/requests", web_request())
        for s in (sapporo, hakodate):
            await eventually(lambda s=s: has_request(s, req["id"]), timeout=30)
            await eventually(lambda s=s: s.space_version("kobe"), timeout=30)
        offer = await sapporo.post(f"/api/requests/{req['id']}/offers", {"member": helper, "message": "お手伝いできます"})
        assert offer["kind"] == "offer" and offer["skills"] == ["web制作"] and offer["display_name"] == "札幌 一郎"
        ref = await hakodate.post(f"/api/requests/{req['id']}/offers", {"referral": "sapporo", "message": "札幌に詳しい人がいます"})
        assert ref["kind"] == "referral" and ref["referred"] == "sapporo"

        async def both() -> list[dict[str, Any]] | None:
            got = (await kobe.get(f"/api/requests/{req['id']}"))["offers"]
            return got if len(got) == 2 else None

        got = {o["kind"]: o for o in await eventually(both, timeout=30)}
        assert got["offer"]["space"] == "sapporo" and got["offer"]["skills"] == ["web制作"]
        assert got["referral"]["space"] == "hakodate" and got["referral"]["referred"] == "sapporo"
        addressed = await eventually(lambda: has_request(sapporo, req["id"]), timeout=30)
        await eventually(lambda: sapporo.get(f"/api/requests/{req['id']}"), timeout=30)

        async def referred() -> bool:
            return bool((await sapporo.get(f"/api/requests/{req['id']}"))["referred_by"])

        await eventually(referred, timeout=30)
        assert addressed is not None
        assert (await sapporo.get(f"/api/requests/{req['id']}"))["referred_by"] == [
            {"space": "hakodate", "message": "札幌に詳しい人がいます"}]
        matched = await kobe.post(f"/api/requests/{req['id']}/accept", {"offers": [offer["record_id"]]})
        assert matched["status"] == "matched" and matched["accepted"] == [offer["record_id"]]
        closed = await kobe.post(f"/api/requests/{req['id']}/close", {})
        assert closed["status"] == "closed" and closed["version"] == 3
        for s in spaces:
            await eventually(lambda s=s: has_request(s, req["id"], status="closed", version=3), timeout=30)
        mine = (await sapporo.get(f"/api/requests/{req['id']}"))["offers"]
        assert [(o["record_id"], o["accepted"]) for o in mine] == [(offer["record_id"], True)]
        listed = await hakodate.get("/api/requests?status=closed", auth=False)
        assert [r["id"] for r in listed["requests"]] == [req["id"]]
        await converged(spaces)


async def test_an_offer_sent_while_kobe_is_down_arrives_when_it_returns_once(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe's node stops; sapporo offers; kobe comes back and holds the offer exactly once."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo, _ = spaces
        helper = await member(sapporo, "札幌 一郎", ["web制作"])
        req = await kobe.post("/api/requests", web_request())
        await eventually(lambda: has_request(sapporo, req["id"]), timeout=30)
        await eventually(lambda: sapporo.space_version("kobe"), timeout=30)
        await kobe.kill()
        offer = await sapporo.post(f"/api/requests/{req['id']}/offers", {"member": helper})
        await kobe.start()

        async def arrived() -> list[dict[str, Any]] | None:
            got = (await kobe.get(f"/api/requests/{req['id']}"))["offers"]
            return got or None

        got = await eventually(arrived, timeout=40)
        await converged(spaces)
        await kobe.stop()  # a restart redelivers nothing new: still one
        await kobe.start()
        got = (await kobe.get(f"/api/requests/{req['id']}"))["offers"]
        assert [o["id"] for o in got] == [offer["record_id"]]


async def test_search_finds_two_character_japanese_words_and_skills_across_spellings(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """「ウェブサイト制作を手伝ってくれる人」 is found at sapporo by ウェブ and by 制作; the skill
    filter folds web制作, Web 制作 and ｳｪﾌﾞ制作 to one; kind, space, status and region filter."""
    async with spaces_for(tmp_path, NAMES[:2], lambda n: nats_cluster[n].client_url) as spaces:
        kobe, sapporo = spaces
        web = await kobe.post("/api/requests", web_request())
        books = await kobe.post("/api/requests", web_request(title="会計を見てほしい", body="確定申告の相談",
                                                               skills=["経理"], kind="consult", region="札幌"))
        film = await sapporo.post("/api/requests", web_request(title="映像編集できる方", body="UI の動画も",
                                                                 skills=["動画編集"], kind="collab"))
        await eventually(lambda: has_request(sapporo, books["id"]), timeout=30)
        await eventually(lambda: has_request(sapporo, web["id"]), timeout=30)

        async def ids(query: str) -> list[str]:
            return [r["id"] for r in (await sapporo.get(f"/api/requests?{query}", auth=False))["requests"]]

        assert await ids("text=ウェブ") == [web["id"]]
        assert await ids("text=制作") == [web["id"]]
        assert await ids("text=会計") == [books["id"]]
        assert await ids("text=映像") == [film["id"]]
        assert await ids("text=UI") == [film["id"]]
        assert await ids("text=ｳｪﾌﾞ") == [web["id"]]
        assert await ids("text=翻訳") == []
        for spelling in ("web制作", "Web%20制作", "ｳｪﾌﾞ制作", "web%20development"):
            assert await ids(f"skill={spelling}") == [web["id"]], spelling
        assert await ids("skill=会計") == [books["id"]]
        assert await ids("kind=consult") == [books["id"]]
        assert set(await ids("space=kobe")) == {web["id"], books["id"]}
        assert await ids("region=札幌") == [books["id"]]
        assert await ids("status=closed") == []
        assert set(await ids("status=open")) == {web["id"], books["id"], film["id"]}


async def test_bad_requests_and_offers_are_refused_naming_the_field_and_change_nothing(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """An empty title, a past deadline, an offer to a closed request, a referral to an unknown
    space, a close by another space: each a clear 4xx naming the field; nothing is written."""
    async with spaces_for(tmp_path, NAMES[:2], lambda n: nats_cluster[n].client_url) as spaces:
        kobe, sapporo = spaces
        helper = await member(sapporo, "札幌 一郎", ["web制作"])
        req = await kobe.post("/api/requests", web_request())
        await eventually(lambda: has_request(sapporo, req["id"]), timeout=30)
        await eventually(lambda: sapporo.space_version("kobe"), timeout=30)
        before = await sapporo.get("/api/federation")

        async def refused(space: Space, path: str, body: Any) -> tuple[int, dict[str, Any]]:
            try:
                await space.post(path, body)
            except HttpError as e:
                return e.status, e.body["error"]
            raise AssertionError(f"{path} {body} was accepted")

        status, err = await refused(kobe, "/api/requests", web_request(title=""))
        assert status == 400 and err["field"] == "title"
        status, err = await refused(kobe, "/api/requests", web_request(title="   "))
        assert status == 400 and err["field"] == "title"
        status, err = await refused(kobe, "/api/requests", web_request(deadline=later(-1)))
        assert status == 422 and err["field"] == "deadline"
        status, err = await refused(kobe, "/api/requests", web_request(kind="party"))
        assert status == 400 and err["field"] == "kind"
        status, err = await refused(kobe, "/api/requests", web_request(member="nobody"))
        assert status == 422 and err["field"] == "member"
        status, err = await refused(sapporo, f"/api/requests/{req['id']}/offers", {"member": "nobody"})
        assert status == 422 and err["field"] == "member"
        status, err = await refused(sapporo, f"/api/requests/{req['id']}/offers", {"referral": "nowhere"})
        assert status == 422 and err["field"] == "referral"
        status, err = await refused(sapporo, f"/api/requests/{req['id']}/offers", {})
        assert status == 422 and err["field"] == "member"
        status, err = await refused(sapporo, f"/api/requests/{req['id']}/close", {})
        assert status == 403 and err["field"] == "id"
        status, err = await refused(kobe, f"/api/requests/{req['id']}/accept", {"offers": ["no-such-offer"]})
        assert status == 422 and err["field"] == "offers"
        assert (await sapporo.get("/api/federation")) == before
        assert [r["id"] for r in (await kobe.get("/api/requests"))["requests"]] == [req["id"]]
        await kobe.post(f"/api/requests/{req['id']}/close", {"status": "withdrawn"})
        await eventually(lambda: has_request(sapporo, req["id"], status="withdrawn"), timeout=30)
        status, err = await refused(sapporo, f"/api/requests/{req['id']}/offers", {"member": helper})
        assert status == 409 and err["field"] == "id"
        status, err = await refused(kobe, f"/api/requests/{req['id']}/close", {})
        assert status == 409


async def test_no_message_on_the_bus_holds_a_member_name_contact_or_unshared_skill(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """After requests for members, offers and a referral, every message in stream HITODE is
    read: no member's name (unless shared), e-mail or unshared skill is in any of them, and
    kobe, which opens the offer, sees only the shared skills."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo, hakodate = spaces
        asker = await member(kobe, "秘密 依頼子", ["営業秘密スキル"], share_name=False, shared=[])
        helper = await member(sapporo, "秘密 札幌人", ["web制作", "秘密の錬金術"], share_name=False, shared=["web制作"])
        req = await kobe.post("/api/requests", web_request(member=asker))
        assert req["display_name"] == ""
        for s in (sapporo, hakodate):
            await eventually(lambda s=s: has_request(s, req["id"]), timeout=30)
            await eventually(lambda s=s: s.space_version("kobe"), timeout=30)
        await sapporo.post(f"/api/requests/{req['id']}/offers", {"member": helper, "message": "どうぞ"})
        await hakodate.post(f"/api/requests/{req['id']}/offers", {"referral": "sapporo"})

        async def two() -> list[dict[str, Any]] | None:
            got = (await kobe.get(f"/api/requests/{req['id']}"))["offers"]
            return got if len(got) == 2 else None

        offers = await eventually(two, timeout=30)
        (offer,) = [o for o in offers if o["kind"] == "offer"]
        assert offer["skills"] == ["web制作"] and offer["display_name"] == "" and offer["member"].startswith("m-")
        await converged(spaces)
        secrets = []
        for s in (kobe, sapporo):
            for m in (await s.get("/api/members"))["members"]:
                secrets += [m["name"], m["email"], *(k for k in m["skills"] if k not in m["shared_skills"])]
        nc = await nats.connect(nats_cluster["kobe"].client_url)
        try:
            js = nc.jetstream()
            last = (await js.stream_info("HITODE")).state.last_seq
            assert last >= 7  # three profiles, the request, an offer, a referral and its copy to sapporo
            data = [(await js.get_msg("HITODE", seq)).data or b"" for seq in range(1, last + 1)]
        finally:
            await nc.close()
        for secret in secrets:
            found = [i for i, d in enumerate(data) if secret.encode() in d]
            assert not found, f"{secret!r} is on the bus"


async def test_a_request_expires_by_itself_at_its_deadline_everywhere(tmp_path: Path, nats_cluster: NatsCluster) -> None:
    """Nobody closes it: at its deadline kobe's node publishes it expired, and sapporo holds that version."""
    async with spaces_for(tmp_path, NAMES[:2], lambda n: nats_cluster[n].client_url) as spaces:
        kobe, sapporo = spaces
        soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)).isoformat()
        req = await kobe.post("/api/requests", web_request(deadline=soon))
        await eventually(lambda: has_request(sapporo, req["id"], status="open"), timeout=30)
        for s in spaces:
            await eventually(lambda s=s: has_request(s, req["id"], status="expired", version=2), timeout=40)
        listed = await sapporo.get("/api/requests?status=expired", auth=False)
        assert [r["id"] for r in listed["requests"]] == [req["id"]]
        assert (await sapporo.get("/api/requests?status=open", auth=False))["requests"] == []
