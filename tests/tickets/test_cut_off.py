"""A space cut off from the federation cannot decide a ticket: three hosts (network
namespaces, as root), each space on its own nats-server from `hitode nats-config` (a hub
cluster over TLS routes, the spaces' users on their allow-lists) and stream TICKETS made by
`hitode nats-stream`.

sapporo's uplink goes down; its operator still reaches its node. A ticket redeemed there
is pending (let in, by sapporo's policy) while hakodate, on the majority side, redeems the
same ticket; another one, redeemed only at sapporo, is pending too; with the policy set to
refuse, a third is refused. When the link is back every attempt settles to the truth:
the first was already redeemed at hakodate (and sapporo is alerted that it let a guest in
on a used ticket), the second is sapporo's, the third, unless its request reached the stream
after all (then it is sapporo's), is still free. Shown again at sapporo while
cut off, a ticket it let a guest in on is refused there (409), not admitted twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
import pytest_asyncio

from node.ops.natsconf import ADMIN, CONF_FILE
from node.ops.spec import load_spec
from tests.deploy.hosts import Lan, Server, can_make_hosts, hitode
from tests.eventually import eventually
from tests.spaces import HttpError, Space

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

HUB = ("kobe", "sapporo", "hakodate")


class Hosts:
    def __init__(self, base: Path, lan: Lan) -> None:
        self.base, self.lan = base, lan
        self.spaces: dict[str, Space] = {}
        self.servers: dict[str, Server] = {}

    async def tickets_leader(self, via: str) -> str:
        """The TICKETS stream's leader, as the admin on `via`'s server sees it ("" if none)."""
        spec = load_spec(self.base / via)
        nc = await nats.connect(f"nats://{self.lan[via].address}:4222", user=ADMIN, password=spec.admin_password,
                                allow_reconnect=False, connect_timeout=3)
        try:
            info = await nc.jsm(prefix="$JS.hub.API", timeout=3).stream_info("TICKETS")
            return (info.cluster.leader or "") if info.cluster else ""
        finally:
            await nc.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def hosts(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hosts]:
    assert can_make_hosts() is None, can_make_hosts()
    base = tmp_path_factory.mktemp("ticket-hosts")
    with Lan(HUB) as lan:
        h = Hosts(base, lan)
        try:
            for name in HUB:
                h.spaces[name] = Space(base / name, name, "nats://127.0.0.1:4222", http_host=lan[name].local,
                                       prefix=lan[name].prefix)
            ca = base / "kobe" / "ca"
            hitode(None, "ca", "init", "--ca", ca)
            for name in HUB:
                hitode(None, "ca", "issue", "--ca", ca, "--dir", base / name, "--host", lan[name].address)
                members = [f"--member={m}={lan[m].address}" for m in HUB if m != name]
                hitode(None, "nats-config", "--dir", base / name, "--topology", "hub", "--address",
                       lan[name].address, "--client-address", "0.0.0.0", "--monitor-address", "0.0.0.0", *members)
            for name in HUB:
                h.servers[name] = Server(lan[name], base / name / CONF_FILE, base / name / "nats-stdout.log")
            await asyncio.gather(*(s.start() for s in h.servers.values()))

            def made() -> str:
                return hitode(lan["kobe"], "nats-stream", "--dir", base / "kobe").stdout

            assert "stream TICKETS is there" in await eventually(made, timeout=60, interval=1)
            await asyncio.gather(*(s.start() for s in h.spaces.values()))
            yield h
        finally:
            await asyncio.gather(*(s.close() for s in h.spaces.values()), return_exceptions=True)
            await asyncio.gather(*(s.stop() for s in h.servers.values()), return_exceptions=True)


async def redeem(space: Space, text: str) -> tuple[int, Any]:
    """The status and body of a redemption, as the desk's HTTP client sees them."""
    async with aiohttp.ClientSession() as http:
        async with http.post(space.url + "/api/tickets/redeem", json={"ticket": text},
                             headers={"Authorization": f"Bearer {space.token}"}) as r:
            return r.status, await r.json()


async def attempt_state(space: Space, attempt: str) -> dict[str, Any]:
    (row,) = [r for r in (await space.get("/api/tickets"))["redeemed_here"] if r["attempt"] == attempt]
    return dict(row)


async def test_a_space_cut_off_is_pending_and_settles_to_the_truth_when_it_rejoins(hosts: Hosts) -> None:
    kobe, sapporo, hakodate = (hosts.spaces[n] for n in HUB)

    async def knows(s: Space) -> bool:
        try:
            await s.get("/api/spaces/kobe")
        except HttpError:
            return False
        return True

    for s in (sapporo, hakodate):
        await eventually(lambda s=s: knows(s), timeout=60, interval=0.3)
    contested, mine, refused = [(await kobe.post("/api/tickets", {}))["text"] for _ in range(3)]

    hosts.lan["sapporo"].cut()
    try:
        # the majority elects a leader for TICKETS among its own servers
        async def majority_leads() -> bool:
            return await hosts.tickets_leader("hakodate") in ("kobe", "hakodate")

        await eventually(majority_leads, timeout=60, interval=0.5)
        status, pending = await redeem(sapporo, contested)
        assert status == 202 and pending["state"] == "pending" and pending["admitted"], (status, pending)
        status, again = await redeem(sapporo, contested)
        assert status == 409 and "already redeemed at sapporo" in again["error"]["message"], (status, again)
        status, won = await redeem(hakodate, contested)
        assert status == 201 and won["state"] == "redeemed", (status, won)
        status, alone = await redeem(sapporo, mine)
        assert status == 202 and alone["state"] == "pending", (status, alone)

        await sapporo.put("/api/tickets/policy", {"when_unconfirmed": "refuse"})
        status, body = await redeem(sapporo, refused)
        assert status == 503 and body["error"]["code"] == "ticket_unconfirmed", (status, body)
        (refusal,) = [r for r in (await sapporo.get("/api/tickets"))["redeemed_here"]
                      if r["state"] == "pending" and not r["admitted"]]
        assert (await attempt_state(sapporo, pending["attempt"]))["state"] == "pending"
    finally:
        hosts.lan["sapporo"].mend()

    async def settled(attempt: str) -> dict[str, Any] | None:
        row = await attempt_state(sapporo, attempt)
        return row if row["state"] != "pending" else None

    truth = await eventually(lambda: settled(pending["attempt"]), timeout=150, interval=1)
    assert truth["state"] == "taken" and truth["redeemed_by"] == "hakodate" and truth["admitted"], truth
    alerts = (await sapporo.get("/api/alerts"))["alerts"]
    assert any(a["kind"] == "ticket_used_twice" and a["space"] == "hakodate" for a in alerts), alerts

    ours = await eventually(lambda: settled(alone["attempt"]), timeout=60, interval=1)
    assert ours["state"] == "redeemed" and ours["redeemed_by"] == "sapporo", ours
    # The refused attempt is not made void while its request could still land (the stream's
    # duplicate window); it may have reached the stream once the link was back (the request
    # was on its way): then it is sapporo's redemption, though nobody was let in.
    await sapporo.put("/api/tickets/policy", {"when_unconfirmed": "admit"})
    status, now = await redeem(sapporo, refused)
    late = await attempt_state(sapporo, refusal["attempt"])
    if status == 201:
        # the refused ticket was still free: now it is redeemed, once
        assert now["state"] == "redeemed" and late["state"] == "pending", (now, late)
    else:
        assert status == 409 and "already redeemed at sapporo" in now["error"]["message"], (status, now)
        assert (late["state"], late["admitted"], late["redeemed_by"]) == ("redeemed", False, "sapporo"), late
    # and kobe, the issuer, sees each of its tickets where it went
    async def issuer_view() -> dict[str, str] | None:
        items = (await kobe.get("/api/tickets"))["issued"]
        got = {i["text"]: i["redeemed_by"] or "" for i in items}
        want = {contested: "hakodate", mine: "sapporo", refused: "sapporo"}
        return got if got == want else None

    await eventually(issuer_view, timeout=60, interval=0.5)
