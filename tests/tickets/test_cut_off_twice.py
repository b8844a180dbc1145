"""A space that cannot reach the cluster still knows what it has seen: a ticket it already
let a holder in on, or one another space's audit record says is redeemed, is refused at
its desk (409, saying where and when) instead of being admitted as pending again.

One nats-server for kobe and sapporo; it is stopped to cut sapporo off (the claim then
times out, which is what a space on the minority side sees).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from node.app.node import DB_FILE
from node.bus.embedded import EmbeddedNats
from tests.eventually import eventually
from tests.spaces import Space, spaces_for
from tests.tickets.test_redeem import attempt, knows


def audit_states(space: Space, ticket_id: str) -> list[str]:
    db = sqlite3.connect(f"file:{space.dir / DB_FILE}?mode=ro", uri=True)
    try:
        return [r[0] for r in db.execute("SELECT state FROM ticket_audit WHERE ticket = ?", (ticket_id,))]
    finally:
        db.close()


async def test_sapporo_cut_off_admits_a_ticket_once_and_refuses_its_second_showing(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """The first showing of a ticket while the cluster cannot answer is let in as pending (policy admit; the helper reports any 2xx as 201); the same
    ticket shown again is refused with 409, saying it was let in at sapporo; and a ticket hakodate's audit record says
    it redeemed is refused at sapporo too, without the cluster."""
    async with spaces_for(tmp_path, ["kobe", "sapporo", "hakodate"], lambda n: nats_server.client_url) as spaces:
        kobe, sapporo, hakodate = spaces
        for s in (sapporo, hakodate):
            await eventually(lambda s=s: knows(s, "kobe"), timeout=30)
        first, elsewhere = [(await kobe.post("/api/tickets", {}))["text"] for _ in range(2)]
        won = await hakodate.post("/api/tickets/redeem", {"ticket": elsewhere})
        assert won["state"] == "redeemed", won
        await eventually(lambda: audit_states(sapporo, won["ticket"]) == ["redeemed"], timeout=60, interval=0.3)

        await nats_server.stop()
        status, pending = await attempt(sapporo, first)
        assert status == 201 and pending["state"] == "pending" and pending["admitted"], (status, pending)
        status, again = await attempt(sapporo, first)
        assert status == 409 and again["error"]["code"] == "ticket_already_redeemed", (status, again)
        assert "already redeemed at sapporo" in again["error"]["message"], again
        status, used = await attempt(sapporo, elsewhere)
        assert status == 409 and "already redeemed at hakodate" in used["error"]["message"], (status, used)

        rows = (await sapporo.get("/api/tickets"))["redeemed_here"]
        assert sorted((r["state"], r["admitted"]) for r in rows) == [("pending", True), ("taken", False),
                                                                     ("taken", False)], rows
