"""Signed calls on core NATS: sync requests and presence beats that are malformed, replayed or out of time.

Real nodes on one real nats-server; the test speaks on the bus with its own connection,
signing calls with keys it generated or, for a replay, capturing a node's real request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from node.bus.embedded import EmbeddedNats
from node.federation.identity import Identity
from schemas.rpc import (
    PRESENCE_TAG,
    RPC_TAG,
    Presence,
    SignedCall,
    SyncReply,
    SyncRequest,
)
from tests.eventually import eventually
from tests.forge import forge, inject
from tests.spaces import spaces_for


def _signed(ident: Identity, tag: bytes, payload: msgspec.Struct) -> bytes:
    """A call signed as the wire contract says: tag + MessagePack of the payload, Ed25519 over those bytes."""
    signed = tag + msgspec.msgpack.encode(payload)
    return msgspec.msgpack.encode(SignedCall(signed=signed, sig=ident.sign(signed), key=ident.sign_key))


def _payload(data: bytes, tag: bytes) -> dict[str, Any]:
    call = msgspec.msgpack.decode(data, type=SignedCall)
    return dict(msgspec.msgpack.decode(call.signed[len(tag):]))


async def _ask(nc: Client, subject: str, data: bytes) -> SyncReply:
    # The node serves HTTP before its bus is up: until it subscribes there are no responders.
    for _ in range(50):
        try:
            msg = await nc.request(subject, data, timeout=3)
            break
        except nats.errors.NoRespondersError:
            await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"no reply on {subject} within 3 s: the request was left unanswered") from None
    else:
        raise AssertionError(f"nobody serves {subject}")
    return msgspec.msgpack.decode(msg.data, type=SyncReply)


async def test_sync_request_with_a_naive_at_gets_an_error_reply(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """A signed sync request whose `at` has no time zone is answered with an error, and the next good request is still served."""
    async with spaces_for(tmp_path, ["sapporo"], lambda n: nats_server.client_url) as (sapporo,):
        await eventually(lambda: sapporo.space_version("sapporo"))
        mallory = Identity.generate("mallory")
        nc = await nats.connect(nats_server.client_url)
        try:
            naive = SyncRequest(caller="mallory", author="sapporo", channel="pub", after=0, at=dt.datetime.now())
            reply = await _ask(nc, "hitode.rpc.sapporo.sync", _signed(mallory, RPC_TAG, naive))
            assert reply.error and not reply.envelopes, reply

            good = SyncRequest(caller="mallory", author="sapporo", channel="pub", after=0, at=dt.datetime.now(dt.UTC))
            reply = await _ask(nc, "hitode.rpc.sapporo.sync", _signed(mallory, RPC_TAG, good))
            assert not reply.error and len(reply.envelopes) == 1, reply
        finally:
            await nc.close()


async def test_a_captured_dm_sync_request_replayed_is_refused(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """sapporo repairs a gap in kobe's notes to it; the same signed request bytes, replayed from another inbox or its own, fetch nothing."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await eventually(lambda: kobe.space_version("sapporo"), timeout=20)
        await eventually(lambda: sapporo.space_version("kobe"), timeout=20)
        nc = await nats.connect(nats_server.client_url)
        try:
            js = nc.jetstream()
            captured: list[bytes] = []

            async def capture(msg: Msg) -> None:
                req = _payload(msg.data, RPC_TAG)
                if req["caller"] == "sapporo" and req["channel"] == "sapporo":
                    captured.append(msg.data)

            await nc.subscribe("hitode.rpc.kobe.sync", cb=capture)

            # sapporo misses kobe's first note (deleted from the stream), so it holds the
            # second behind a gap and asks kobe for the dm channel over sync.
            await sapporo.stop()
            subject = "hitode.dm.sapporo.note.kobe"
            await kobe.post("/api/notes", {"to": "sapporo", "text": "first, lost"})
            lost = await eventually(lambda: js.get_last_msg("HITODE", subject))
            assert lost.seq is not None and await nc.jsm().delete_msg("HITODE", lost.seq)
            await kobe.post("/api/notes", {"to": "sapporo", "text": "second"})
            await eventually(lambda: _newer(js, subject, int(lost.seq or 0)))
            await sapporo.start()

            async def both() -> bool:
                return len((await sapporo.get("/api/notes"))["notes"]) == 2

            await eventually(both, timeout=20)
            assert captured, "sapporo repaired the gap without a sync request seen on hitode.rpc.kobe.sync"

            reply = await _ask(nc, "hitode.rpc.kobe.sync", captured[0])
            assert reply.error and not reply.envelopes, (
                f"kobe served a replayed request of sapporo's to another inbox: "
                f"{len(reply.envelopes)} dm envelopes, error {reply.error!r}"
            )
            # Replayed to the very inbox it names (anyone may listen on _INBOX.>): answered once only.
            inbox = _payload(captured[0], RPC_TAG)["reply"]
            sub = await nc.subscribe(inbox)
            await nc.publish("hitode.rpc.kobe.sync", captured[0], reply=inbox)
            again = msgspec.msgpack.decode((await sub.next_msg(timeout=3)).data, type=SyncReply)
            assert again.error and not again.envelopes, again
        finally:
            await nc.close()


async def test_presence_beat_out_of_time_neither_marks_online_nor_moves_heads(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """Beats of a pinned space dated a day past and a day ahead leave it offline and ask no sync; a timely beat after them does both."""
    async with spaces_for(tmp_path, ["sapporo"], lambda n: nats_server.client_url) as (sapporo,):
        nagoya, oita = Identity.generate("nagoya"), Identity.generate("oita")
        nc = await nats.connect(nats_server.client_url)
        try:
            js = nc.jetstream()
            for ident in (nagoya, oita):
                rec = forge(ident)
                await inject(js, rec.subject, rec.raw)
            await eventually(lambda: sapporo.space_version("nagoya"))
            await eventually(lambda: sapporo.space_version("oita"))

            asked: list[str] = []

            async def answer_empty(msg: Msg) -> None:
                asked.append(msg.subject)
                await msg.respond(msgspec.msgpack.encode(SyncReply()))

            await nc.subscribe("hitode.rpc.*.sync", cb=answer_empty)
            now = dt.datetime.now(dt.UTC)
            day = dt.timedelta(days=1)
            for at, seq in ((now - day, 5), (now + day, 6)):
                await nc.publish("hitode.presence.nagoya", _signed(nagoya, PRESENCE_TAG, Presence(space="nagoya", at=at, pub_seq=seq)))
            # A timely beat after them, on the same connection: once it shows, they were taken in.
            await nc.publish("hitode.presence.oita", _signed(oita, PRESENCE_TAG, Presence(space="oita", at=now, pub_seq=2)))

            async def online(space: str) -> bool:
                return bool((await sapporo.get(f"/api/spaces/{space}", auth=False))["online"])

            await eventually(lambda: online("oita"))
            assert not await online("nagoya"), "a beat dated a day away marked nagoya online"
            await eventually(lambda: "hitode.rpc.oita.sync" in asked, timeout=10)
            assert "hitode.rpc.nagoya.sync" not in asked, f"a beat dated a day away moved nagoya's head: {asked}"
        finally:
            await nc.close()


async def _newer(js: Any, subject: str, than: int) -> bool:
    return bool((await js.get_last_msg("HITODE", subject)).seq > than)

