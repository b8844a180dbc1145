"""Passes sapporo must refuse, each with a clear 4xx saying which rule, and nothing booked
but the refusal: tampered, expired, signed by another key than kobe's, revoked while
kobe's node is down, from a space sapporo does not accept, and over its free days."""

from __future__ import annotations

import datetime as dt
from typing import Any

import cbor2
import pytest

from node.federation.base45 import b45encode
from node.federation.identity import Identity
from node.federation.signed_token import issue, read
from tests.eventually import eventually
from tests.spaces import HttpError, Space
from tests.visas.conftest import MEMBER, Wiretap, member_with_pass, set_policy


async def refused(space: Space, text: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(HttpError) as e:
        await space.post("/api/visits", {"pass": text})
    return e.value.status, e.value.body["error"]


def resigned(text: str, ident: Identity, **change: Any) -> str:
    """The same claims, signed again by `ident`, with some changed."""
    t = read(text, "HV1:")
    return issue(ident, "HV1:", subject=change.get("subject", t.subject), token_id=t.token_id,
                 issued_at=change.get("issued_at", t.issued_at), expires_at=change.get("expires_at", t.expires_at),
                 extra=t.extra)


async def test_sapporo_refuses_bad_passes_saying_which_and_books_nothing_else(
        trio: list[Space], wiretap: Wiretap) -> None:
    kobe, sapporo, _ = trio
    _, p = await member_with_pass(kobe)
    text = p["text"]
    kobe_key = Identity.load("kobe", kobe.dir)  # the test holds kobe's key file, as kobe does

    # Tampered: another member's id put in, kobe's signature left as it was.
    t = read(text, "HV1:")
    claims = cbor2.loads(t.payload)
    claims[2] = "m-000000000000000000000000"
    tampered = "HV1:" + b45encode(cbor2.dumps(cbor2.CBORTag(18, [t.protected, {}, cbor2.dumps(claims), t.signature])))
    assert await refused(sapporo, tampered) == (422, {
        "code": "token_tampered", "field": "pass",
        "message": "the signature does not match: the token was altered after kobe signed it"})

    # Signed by some other key that calls itself kobe.
    status, err = await refused(sapporo, resigned(text, Identity.generate("kobe")))
    assert (status, err["code"]) == (422, "token_foreign")

    # Expired: signed by kobe's own key, with a validity that ended yesterday.
    now = dt.datetime.now(dt.UTC)
    expired = resigned(text, kobe_key, issued_at=now - dt.timedelta(days=3), expires_at=now - dt.timedelta(days=1))
    status, err = await refused(sapporo, expired)
    assert (status, err["code"]) == (422, "token_expired")

    # Not a pass at all (cut off while pasting).
    status, err = await refused(sapporo, text[:40])
    assert (status, err["code"]) == (422, "token_malformed")

    # From a space sapporo does not accept.
    await set_policy(sapporo, accepts_from=["hakodate"])
    status, err = await refused(sapporo, text)
    assert (status, err["code"]) == (403, "space_not_accepted")

    # Over the free days: sapporo gives none.
    await set_policy(sapporo, free_days_per_month=0)
    status, err = await refused(sapporo, text)
    assert (status, err["code"]) == (403, "quota_exceeded")

    assert (await sapporo.get("/api/visits"))["visits"] == []
    codes = [r["code"] for r in (await sapporo.get("/api/visits/refusals"))["refusals"]]
    assert codes == ["quota_exceeded", "space_not_accepted", "token_malformed", "token_expired", "token_foreign",
                     "token_tampered"]
    assert wiretap.leaks(MEMBER["name"], MEMBER["email"]) == []


async def test_a_pass_revoked_at_kobe_is_refused_at_sapporo_while_kobe_is_down(trio: list[Space]) -> None:
    """The status list reached sapporo before kobe went down; sapporo refuses from it alone,
    even with its policy set to admit when the home cannot be asked."""
    kobe, sapporo, _ = trio
    _, p = await member_with_pass(kobe)
    _, other = await member_with_pass(kobe)
    revoked = await kobe.post(f"/api/passes/{p['id']}/revoke", {})
    assert revoked["state"] == "revoked"
    with pytest.raises(HttpError) as e:
        await kobe.post(f"/api/passes/{p['id']}/revoke", {})
    assert e.value.status == 409

    async def list_arrived() -> bool:
        await kobe.get("/api/federation")
        return await sapporo.digest() == await kobe.digest()

    await eventually(list_arrived, timeout=30, interval=0.2)
    await set_policy(sapporo, when_home_unreachable="admit")
    await kobe.kill()
    status, err = await refused(sapporo, p["text"])
    assert (status, err["code"]) == (422, "pass_revoked")
    # The member's other pass is not revoked: admitted, to reconcile when kobe returns.
    visit = await sapporo.post("/api/visits", {"pass": other["text"]})
    assert visit["verified"] is False
    assert [v["id"] for v in (await sapporo.get("/api/visits"))["visits"]] == [visit["id"]]
