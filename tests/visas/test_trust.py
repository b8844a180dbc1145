"""What the home's `visa` op tells whom, and what a host may write into the home's books.

kobe, sapporo and hakodate run in this process (real nodes on a real nats-server, real
HTTP), so a test can speak for one of them over the bus: hakodate, pinned like any space,
asks kobe about a kobe member whose federation id it saw, without that member's pass.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import nats
import msgspec

from node.app.features import DEFAULT
from node.app.node import Node
from node.app.setup import init_space
from node.bus.embedded import EmbeddedNats
from node.config import load_config
from node.context import Context
from node.errors import Forbidden
from node.feature import Feature, Operation
from node.federation.rpc import call
from node.federation.identity import Identity
from schemas.envelope import Sealed
from schemas.space import VisaPolicy
from schemas.visa import VisaCheck, VisaStanding, Visit
from tests.eventually import eventually
from tests.forge import forge, inject
from tests.visas.conftest import MEMBER


class Http:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def status(self, node: Node, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, node.http_url + path, json=body,
                                        headers={"Authorization": f"Bearer {node.token}"}) as r:
            return r.status, await r.json()

    async def ok(self, node: Node, method: str, path: str, body: Any = None) -> Any:
        st, got = await self.status(node, method, path, body)
        assert st < 300, got
        return got


@contextlib.asynccontextmanager
async def nodes(base: Path, url: str, *specs: tuple[str, Sequence[Feature]]) -> AsyncIterator[list[Node]]:
    async with contextlib.AsyncExitStack() as stack:
        out = []
        for space, features in specs:
            init_space(base / space, space=space, name=space.title(), http_port=0, nats_urls=[url])
            out.append(await stack.enter_async_context(Node(base / space, load_config(base / space),
                                                            features=features)))
        for a in out:
            for b in out:
                if a is not b:
                    await eventually(lambda a=a, b=b: pinned(a, b.space), timeout=60)
        yield out


async def pinned(node: Node, other: str) -> bool:
    return await node.store.scalar("SELECT 1 FROM pins WHERE space = ?", (other,)) is not None


async def refuse_all(ctx: Context, caller: str, body: bytes) -> VisaStanding:
    raise Forbidden("this member's visas are suspended")


# A home whose `visa` op answers every host with a refusal, signed with its own key.
STRICT = tuple(msgspec.structs.replace(f, operations=tuple(
    Operation(name=o.name, handler=refuse_all) if o.name == "visa" else o for o in f.operations))
    for f in DEFAULT)


async def test_hakodate_learns_nothing_of_a_kobe_member_without_their_pass(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """The member's federation id is public; their visa days are told only with their pass."""
    async with nodes(tmp_path, nats_server.client_url, ("kobe", DEFAULT), ("sapporo", DEFAULT),
                     ("hakodate", DEFAULT)) as (kobe, sapporo, hakodate), aiohttp.ClientSession() as s:
        http = Http(s)
        m = await http.ok(kobe, "POST", "/api/members", MEMBER)
        p = await http.ok(kobe, "POST", f"/api/members/{m['id']}/passes", {"days": 30})
        visit = await http.ok(sapporo, "POST", "/api/visits", {"pass": p["text"]})
        fid = str(await sapporo.store.scalar("SELECT member FROM visits WHERE id = ?", (visit["id"],)))
        month = visit["day"][:7]
        await eventually(lambda: kobe.store.scalar("SELECT 1 FROM visits WHERE id = ?", (visit["id"],)), timeout=30)

        async def ask(pass_id: str) -> VisaStanding | None:
            return await call(hakodate.bus, hakodate.store, hakodate.ident, "kobe", "visa",
                              VisaCheck(pass_id=pass_id, member=fid, month=month), VisaStanding, timeout=5)

        # With the pass (as its holder shows it at the desk): its standing and the day at sapporo.
        assert await eventually(lambda: ask(p["id"]), timeout=20) == VisaStanding(standing="active", days_used=1)
        # Without it: a made-up pass id, or another member's pass, tells nothing.
        assert await ask("00" * 8) == VisaStanding(standing="unknown", days_used=0)
        other = await http.ok(kobe, "POST", "/api/members", {**MEMBER, "email": "taro@example.jp"})
        q = await http.ok(kobe, "POST", f"/api/members/{other['id']}/passes", {"days": 30})
        assert await ask(q["id"]) == VisaStanding(standing="unknown", days_used=0)


async def test_sapporo_refuses_a_visitor_whose_home_kobe_refuses_even_when_its_policy_admits_the_unreachable(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """A signed "no" from the home is not silence: no visit, a 403 naming the home's reason."""
    async with nodes(tmp_path, nats_server.client_url, ("kobe", STRICT), ("sapporo", DEFAULT)) as (kobe, sapporo), \
            aiohttp.ClientSession() as s:
        http = Http(s)
        assert VisaPolicy().when_home_unreachable == "admit"  # sapporo keeps the default policy
        m = await http.ok(kobe, "POST", "/api/members", MEMBER)
        p = await http.ok(kobe, "POST", f"/api/members/{m['id']}/passes", {"days": 30})

        async def status_known() -> bool:  # sapporo has kobe's status list, so only the home's word is left
            return await sapporo.store.scalar("SELECT 1 FROM records WHERE kind = 'visa_status'") is not None

        await eventually(status_known, timeout=30)
        st, got = await http.status(sapporo, "POST", "/api/visits", {"pass": p["text"]})
        assert st == 403, got
        assert got["error"]["code"] == "home_refused" and got["error"]["field"] == "pass"
        assert "suspended" in got["error"]["message"]
        assert (await http.ok(sapporo, "GET", "/api/visits"))["visits"] == []
        refusals = (await http.ok(sapporo, "GET", "/api/visits/refusals"))["refusals"]
        assert [r["code"] for r in refusals] == ["home_refused"]


async def test_mallory_cannot_rewrite_a_visit_sapporo_sent_kobe_by_reusing_its_id(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """A visit's id is its host's: another space's visit dm under it is quarantined, kobe's books keep sapporo's."""
    async with nodes(tmp_path, nats_server.client_url, ("kobe", DEFAULT), ("sapporo", DEFAULT)) as (kobe, sapporo), \
            aiohttp.ClientSession() as s:
        http = Http(s)
        m = await http.ok(kobe, "POST", "/api/members", MEMBER)
        p = await http.ok(kobe, "POST", f"/api/members/{m['id']}/passes", {"days": 30})
        visit = await http.ok(sapporo, "POST", "/api/visits", {"pass": p["text"]})

        async def at_kobe() -> dict[str, Any] | None:
            return await kobe.store.one("SELECT * FROM visits WHERE id = ?", (visit["id"],))

        before = await eventually(at_kobe, timeout=30)
        mallory = Identity.generate("mallory")
        nc = await nats.connect(nats_server.client_url)
        try:
            js = nc.jetstream()
            profile = forge(mallory)
            await inject(js, profile.subject, profile.raw)
            await eventually(lambda: pinned(kobe, "mallory"), timeout=30)
            fid = str(await sapporo.store.scalar("SELECT member FROM visits WHERE id = ?", (visit["id"],)))
            now = dt.datetime.now(dt.UTC)
            fake = Visit(author="mallory", to="kobe", record_id=visit["id"], version=5, pass_id=p["id"], member=fid,
                         day=visit["day"], checked_in_at=now, checked_out_at=now, free_days=31, flags=[])
            nonce, sealed = mallory.seal(msgspec.msgpack.encode(fake), kobe.ident.box_key)
            body = msgspec.msgpack.encode(Sealed(box_key=mallory.box_key, nonce=nonce, ciphertext=sealed))
            dm = forge(mallory, kind="visit", channel="kobe", record_id=visit["id"],
                       version=5, body=body)
            await inject(js, dm.subject, dm.raw)

            async def quarantined() -> list[str] | None:
                got = [str(r["reason"]) for r in await kobe.store.all("SELECT reason FROM quarantine")]
                return got or None

            reasons = "\n".join(await eventually(quarantined, timeout=30))
            assert "belongs to sapporo" in reasons
            assert await at_kobe() == before  # same host, version, times and flags
        finally:
            await nc.close()
