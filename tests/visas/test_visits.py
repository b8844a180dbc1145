"""Coworking Visa visits between real nodes: checked in at the host, on both books, settled.

kobe issues its member a pass; sapporo checks the member in with it and out again; the
visit reaches kobe's books once, acknowledged, and the month's settlement agrees on both
sides. With kobe's node killed, sapporo's policy decides; when kobe returns, the visit
reaches its books exactly once, and a visit over sapporo's free days is flagged on both.
Nothing of the member that they did not agree to share is ever on the bus.
"""

from __future__ import annotations

import base64
import csv
import io
from typing import Any

import aiohttp
import cwt
import pytest

from node.federation.base45 import b45decode
from node.federation.signed_token import key_id

from tests.eventually import eventually
from tests.spaces import HttpError, Space
from tests.visas.conftest import MEMBER, Wiretap, member_with_pass, set_policy


def visit_member(claims: dict[Any, Any]) -> str:
    """The member's federation id: pseudonymous, "m-" and 24 hex digits."""
    sub = str(claims[2])
    assert sub.startswith("m-") and len(sub) == 26
    return sub


async def visits(node: Space, **query: str) -> list[dict[str, Any]]:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    got: list[dict[str, Any]] = (await node.get(f"/api/visits?{q}"))["visits"]
    return got


async def test_a_kobe_member_checks_in_at_sapporo_and_out_and_both_books_agree(
        trio: list[Space], wiretap: Wiretap) -> None:
    """Verified with kobe's node, booked at sapporo, sent to kobe, settled the same on both sides."""
    kobe, sapporo, _ = trio
    member_id, p = await member_with_pass(kobe)
    assert p["text"].startswith("HV1:") and p["svg"].startswith("<svg") and p["qr_version"] <= 10
    assert p["name_in_pass"] is False  # the member does not share their name
    # The cwt package verifies the node's pass under kobe's key as the directory holds it.
    key = base64.b64decode((await sapporo.get("/api/spaces/kobe"))["sign_key"])
    claims = cwt.decode(b45decode(p["text"][4:]), keys=[cwt.COSEKey.new({1: 1, 2: key_id(key), 3: -8, -1: 6, -2: key})])
    assert (claims[1], claims[2], claims[7].hex(), claims["idx"]) == ("kobe", visit_member(claims), p["id"],
                                                                      p["status_index"])
    assert "name" not in claims

    visit = await sapporo.post("/api/visits", {"pass": p["text"]})
    assert (visit["host"], visit["home"], visit["verified"], visit["display_name"]) == ("sapporo", "kobe", True, "")
    assert [v["id"] for v in await visits(sapporo, direction="hosted")] == [visit["id"]]
    with pytest.raises(HttpError) as e:
        await sapporo.post("/api/visits", {"pass": p["text"]})
    assert e.value.status == 409 and e.value.body["error"]["code"] == "already_checked_in"

    out = await sapporo.post(f"/api/visits/{visit['id']}/checkout", {})
    assert out["checked_out_at"] is not None and out["version"] == 2

    async def at_kobe() -> dict[str, Any] | None:
        sent = await visits(kobe, direction="sent")
        return sent[0] if sent and sent[0]["checked_out_at"] else None

    booked = await eventually(at_kobe, timeout=30)
    assert (booked["id"], booked["member"], booked["host"]) == (visit["id"], member_id, "sapporo")
    assert booked["flags"] == []

    async def acknowledged() -> bool:
        return bool((await visits(sapporo, direction="hosted"))[0]["reconciled"])

    await eventually(acknowledged, timeout=30)
    month = visit["day"][:7]
    here = await sapporo.get(f"/api/settlement?month={month}")
    there = await kobe.get(f"/api/settlement?month={month}")
    assert here["partners"] == [{"space": "kobe", "visits_in": 1, "days_in": 1, "visits_out": 0, "days_out": 0,
                                 "unconfirmed": [], "flagged": []}]
    assert there["partners"][0]["space"] == "sapporo"
    assert (there["partners"][0]["visits_out"], there["partners"][0]["days_out"]) == (1, 1)
    assert here["agreed"] is True
    assert [v["id"] for v in await visits(kobe, space="sapporo", month=month)] == [visit["id"]]
    assert await visits(kobe, space="hakodate") == [] and await visits(kobe, direction="hosted") == []
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sapporo.url}/api/settlement?month={month}",
                            headers={"Authorization": f"Bearer {sapporo.token}", "Accept": "text/csv"}) as r:
            assert r.status == 200 and r.content_type == "text/csv"
            rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert [(r["partner"], r["visits_in"], r["days_in"], r["visits_out"]) for r in rows] == [("kobe", "1", "1", "0")]
    # Each side asks the other for its books now: the same visits at the same versions.
    for a, b in ((sapporo, "kobe"), (kobe, "sapporo")):
        checked = (await a.get(f"/api/settlement?month={month}&check=true"))["partners"][0]
        assert checked["space"] == b
        assert checked["check"] == {"reachable": True, "agreed": True, "only_here": [], "only_there": [],
                                    "other_version": []}

    async def honoured() -> list[dict[str, Any]]:
        got = (await kobe.get("/api/visas/honoured", auth=False))["spaces"]
        return [s for s in got if s["space"] == "sapporo" and s["total"] == 1]

    assert await eventually(honoured, timeout=30)
    assert wiretap.leaks(MEMBER["name"], MEMBER["email"], member_id, *MEMBER["skills"]) == []


async def test_sapporo_admits_a_kobe_visitor_while_kobe_is_down_and_kobe_books_it_once_when_back(
        trio: list[Space], wiretap: Wiretap) -> None:
    """Admit-and-reconcile: admitted unverified; kobe gets it once on return and flags the
    overrun (a day at hakodate already used the one free day sapporo gives) on both sides."""
    kobe, sapporo, hakodate = trio
    member_id, p = await member_with_pass(kobe, {**MEMBER, "share_name": True})
    await set_policy(sapporo, free_days_per_month=1, when_home_unreachable="admit")
    first = await hakodate.post("/api/visits", {"pass": p["text"]})
    assert first["verified"] is True and first["display_name"] == MEMBER["name"]
    await eventually(lambda: visits(kobe, direction="sent"), timeout=30)  # one day used, on kobe's books

    await kobe.kill()
    visit = await sapporo.post("/api/visits", {"pass": p["text"]})
    assert visit["verified"] is False
    await sapporo.post(f"/api/visits/{visit['id']}/checkout", {})
    month = visit["day"][:7]
    down = (await sapporo.get(f"/api/settlement?month={month}&check=true"))["partners"][0]
    assert (down["unconfirmed"], down["check"]["reachable"]) == ([visit["id"]], False)
    await kobe.start()

    async def flagged_at_kobe() -> list[dict[str, Any]]:
        got = [v for v in await visits(kobe, direction="sent") if v["id"] == visit["id"]]
        return got if got and got[0]["checked_out_at"] else []

    (booked,) = await eventually(flagged_at_kobe, timeout=60)
    assert booked["flags"] == ["overrun"] and booked["days_used"] == 2

    async def flagged_at_sapporo() -> dict[str, Any] | None:
        v = (await visits(sapporo, direction="hosted"))[0]
        return v if v["reconciled"] and v["flags"] else None

    hosted = await eventually(flagged_at_sapporo, timeout=60)
    assert hosted["flags"] == ["overrun"]
    assert len([v for v in await visits(kobe) if v["id"] == visit["id"]]) == 1  # exactly once
    settled = await sapporo.get(f"/api/settlement?month={month}&check=true")
    assert settled["partners"][0]["flagged"] == [visit["id"]]

    async def books_agree() -> bool:
        got = (await sapporo.get(f"/api/settlement?month={month}&check=true"))["partners"][0]["check"]
        return bool(got["agreed"])

    await eventually(books_agree, timeout=60)
    # The name travelled (the member shares it); the e-mail never did.
    assert wiretap.leaks(MEMBER["email"], member_id) == []


async def test_sapporo_refuses_a_kobe_visitor_while_kobe_is_down_when_its_policy_says_so(
        trio: list[Space]) -> None:
    """Refuse-when-unreachable: 503 home_unreachable, nothing booked, the refusal shown."""
    kobe, sapporo, _ = trio
    _, p = await member_with_pass(kobe)
    await set_policy(sapporo, when_home_unreachable="refuse")
    await kobe.kill()
    with pytest.raises(HttpError) as e:
        await sapporo.post("/api/visits", {"pass": p["text"]})
    assert e.value.status == 503 and e.value.body["error"]["code"] == "home_unreachable"
    assert await visits(sapporo) == []
    refusals = (await sapporo.get("/api/visits/refusals"))["refusals"]
    assert [(r["code"], r["home"], r["pass_id"]) for r in refusals] == [("home_unreachable", "kobe", p["id"])]
