"""Stream TICKETS is the ledger of single use: a node notices when the stream it first saw
was deleted, whether made again empty by someone or left gone, and refuses to redeem (with an
alert) rather than let a used ticket be claimed a second time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nats

from node.bus.embedded import EmbeddedNats
from node.tickets.stream import stream_config
from tests.eventually import eventually
from tests.spaces import spaces_for
from tests.tickets.test_redeem import attempt


async def test_a_tickets_stream_deleted_and_made_again_makes_the_node_refuse_redemptions_and_alert(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """kobe redeems a ticket; then stream TICKETS is deleted and made again, empty (a lost store, or a node's bus
    re-creating what it found missing), so the redemption it held is gone. kobe remembers when the stream it first saw
    was created: it now refuses to redeem (503 tickets_unsafe, saying the stream was re-created) and alerts its
    operator, rather than let a used ticket be claimed again."""
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (kobe,):
        used, fresh = [(await kobe.post("/api/tickets", {}))["text"] for _ in range(2)]
        assert (await attempt(kobe, used))[1]["state"] == "redeemed"
        nc = await nats.connect(nats_server.client_url)
        try:
            await nc.jsm().delete_stream("TICKETS")
            await nc.jsm().add_stream(stream_config(1))
        finally:
            await nc.close()

        async def refused() -> Any:
            status, body = await attempt(kobe, fresh)
            return body if status == 503 else None

        body = await eventually(refused, timeout=60, interval=1)
        assert body["error"]["code"] == "tickets_unsafe" and "re-created" in body["error"]["message"], body
        alerts = (await kobe.get("/api/alerts"))["alerts"]
        assert any(a["kind"] == "tickets_stream_recreated" for a in alerts), alerts
        status, body = await attempt(kobe, used)
        assert status == 503, (status, body)
        assert [r["state"] for r in (await kobe.get("/api/tickets"))["redeemed_here"]] == ["redeemed"]
        assert await kobe.get("/healthz")  # the node itself carries on; only redemptions are refused


async def test_a_tickets_stream_deleted_and_left_gone_is_noticed_at_the_next_redemption(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """kobe redeems a ticket; then stream TICKETS is deleted and nobody makes it again. kobe's desk redeems next:
    rather than leave the holder pending on a ledger that is gone, kobe makes the stream again (the cluster answers
    once more), sees it is not the one it first saw, refuses (503 tickets_unsafe) and alerts its operator."""
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (kobe,):
        used, fresh = [(await kobe.post("/api/tickets", {}))["text"] for _ in range(2)]
        assert (await attempt(kobe, used))[1]["state"] == "redeemed"
        nc = await nats.connect(nats_server.client_url)
        try:
            await nc.jsm().delete_stream("TICKETS")
            status, body = await attempt(kobe, fresh)
            assert status == 503 and body["error"]["code"] == "tickets_unsafe", (status, body)
            assert (await nc.jsm().stream_info("TICKETS")).state.messages == 0  # made again, empty
        finally:
            await nc.close()
        alerts = (await kobe.get("/api/alerts"))["alerts"]
        assert any(a["kind"] == "tickets_stream_recreated" for a in alerts), alerts
