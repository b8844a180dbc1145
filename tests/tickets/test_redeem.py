"""A common ticket is honoured once in the whole federation: three spaces, three nats-servers
in one cluster, real nodes over HTTP.

kobe issues; sapporo and hakodate redeem the same ticket at once, many times over; exactly
one attempt wins, every other one is told where and when it was redeemed, and kobe (the
issuer) learns of the redemption from the audit records. The same with kobe's node
killed. A forged, altered or expired ticket, or one from a space nobody knows, is refused
with a clear 4xx and nothing is recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import cbor2
import nats
from nats.aio.msg import Msg
from nats.js.api import DiscardPolicy, Header

from node.app.features import DEFAULT
from node.app.node import DB_FILE
from node.bus.cluster import NatsCluster
from node.federation import signed_token
from node.federation.base45 import b45decode, b45encode
from node.bus.embedded import EmbeddedNats
from node.federation.identity import Identity, sign_call
from node.federation.outbox import new_id
from node.store import Store
from node.tickets import book
from node.tickets.stream import problems, stream_config, subject
from node.tickets.ticket import PREFIX, read
from schemas.ticket import REDEMPTION_TAG, Redemption
from tests.eventually import eventually
from tests.spaces import HttpError, Space, spaces_for

NAMES = ["kobe", "sapporo", "hakodate"]
PARALLEL = 8  # attempts per redeeming space, all at once


async def knows(space: Space, other: str) -> bool:
    try:
        await space.get(f"/api/spaces/{other}")
    except HttpError:
        return False
    return True


async def attempt(space: Space, text: str) -> tuple[int, Any]:
    try:
        return 201, await space.post("/api/tickets/redeem", {"ticket": text})
    except HttpError as e:
        return e.status, e.body


async def race(spaces: list[Space], text: str) -> list[tuple[str, int, Any]]:
    jobs = [(s, attempt(s, text)) for s in spaces for _ in range(PARALLEL)]
    results = await asyncio.gather(*(j for _, j in jobs))
    return [(s.id, status, body) for (s, _), (status, body) in zip(jobs, results)]


def exactly_one_winner(results: list[tuple[str, int, Any]]) -> str:
    won = [r for r in results if r[1] == 201]
    assert len(won) == 1, results
    winner = won[0][0]
    assert won[0][2]["state"] == "redeemed" and won[0][2]["redeemed_by"] == winner
    for space, status, body in results:
        if status != 201:
            assert status == 409, (space, status, body)
            assert body["error"]["code"] == "ticket_already_redeemed"
            assert body["error"]["field"] == "ticket"
            assert f"already redeemed at {winner}" in body["error"]["message"], body
    return winner


async def issued_state(space: Space, ticket_id: str) -> dict[str, Any]:
    (item,) = [i for i in (await space.get("/api/tickets"))["issued"] if i["id"] == ticket_id]
    return dict(item)


async def test_one_ticket_redeemed_at_sapporo_and_hakodate_at_once_is_honoured_exactly_once(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Sixteen attempts at once, eight at each space: one is redeemed, fifteen are told it already was, at the winner;
    each space's list shows its attempts with those outcomes, and kobe's list shows its ticket redeemed by the winner.
    Nothing on the bus carries the note kobe's operator wrote on the ticket (it may name the guest)."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo, hakodate = spaces
        # everything on the bus while the ticket is issued and redeemed
        tap = await nats.connect(nats_cluster["kobe"].client_url)
        heard: list[bytes] = []

        async def hear(msg: Msg) -> None:
            heard.append(msg.subject.encode() + b" " + msg.data)

        await tap.subscribe("hitode.>", cb=hear)
        for s in (sapporo, hakodate):
            await eventually(lambda s=s: knows(s, "kobe"), timeout=30)
        made = await kobe.post("/api/tickets", {"valid_days": 30, "note": "open day for Tanaka-san"})
        assert made["text"].startswith("HT1:") and made["issuer"] == "kobe"
        assert made["qr"]["version"] <= 10 and made["qr"]["svg"].startswith("<svg")
        assert (await issued_state(kobe, made["id"]))["state"] == "unused"

        winner = exactly_one_winner(await race([sapporo, hakodate], made["text"]))

        listed = {s.id: (await s.get("/api/tickets"))["redeemed_here"] for s in (sapporo, hakodate)}
        assert sum(1 for rows in listed.values() for r in rows if r["state"] == "redeemed") == 1
        assert sum(len(rows) for rows in listed.values()) == 2 * PARALLEL
        assert all(r["redeemed_by"] == winner for rows in listed.values() for r in rows)

        async def redeemed_at_kobe() -> dict[str, Any] | None:
            item = await issued_state(kobe, made["id"])
            return item if item["state"] == "redeemed" else None

        item = await eventually(redeemed_at_kobe, timeout=30)
        assert item["redeemed_by"] == winner and not item["redeemed_twice"]

        # Later, one more try at the space that lost: still refused, saying where it went.
        loser = hakodate if winner == "sapporo" else sapporo
        status, body = await attempt(loser, made["text"])
        assert status == 409 and winner in body["error"]["message"]

        # The operator's note (it may name the guest) never left kobe; the redemptions did travel.
        await tap.close()
        assert any(h.startswith(b"hitode.ticket.") for h in heard)
        assert any(h.startswith(b"hitode.pub.ticket_redemption.") for h in heard)
        assert not [h for h in heard if b"Tanaka" in h]


async def test_with_the_issuers_node_down_the_ticket_is_still_honoured_exactly_once(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """kobe issues a ticket and its node is killed: sapporo and hakodate verify it offline with kobe's pinned key and
    race for it; exactly one wins."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo, hakodate = spaces
        for s in (sapporo, hakodate):
            await eventually(lambda s=s: knows(s, "kobe"), timeout=30)
        made = await kobe.post("/api/tickets", {})
        await kobe.kill()
        exactly_one_winner(await race([sapporo, hakodate], made["text"]))


def _resigned(text: str, ident: Identity, **claims: Any) -> str:
    """The ticket's claims changed and signed again by `ident`."""
    token = signed_token.read(text, PREFIX)
    return signed_token.issue(ident, PREFIX, subject=token.subject, token_id=token.token_id,
                              issued_at=claims.get("issued_at", token.issued_at),
                              expires_at=claims.get("expires_at", token.expires_at), extra={})


def _altered(text: str) -> str:
    """The same COSE_Sign1 with one byte of its payload changed (a later expiry), the signature kept."""
    tag = cbor2.loads(b45decode(text[len(PREFIX):]))
    protected, unprotected, payload, sig = tag.value
    claims = cbor2.loads(payload)
    claims[4] += 86400 * 365
    raw = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims, canonical=True), sig]))
    return PREFIX + b45encode(raw)


async def test_forged_altered_expired_and_unknown_tickets_are_refused_with_a_clear_4xx_and_nothing_recorded(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """At sapporo: text that is no ticket (422), a ticket with its expiry pushed back (422 tampered), one signed by
    another key in kobe's name (422 foreign), one expired (422), one from a space nobody knows (422): each names the
    field `ticket`, and sapporo records no attempt; the genuine ticket is then redeemed."""
    async with spaces_for(tmp_path, NAMES[:2], lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo = spaces
        await eventually(lambda: knows(sapporo, "kobe"), timeout=30)
        made = await kobe.post("/api/tickets", {"valid_days": 10})
        text = made["text"]
        issuer = Identity.load("kobe", kobe.dir)  # kobe's own key, to make a genuine but expired one
        impostor = Identity.generate("kobe")
        stranger = Identity.generate("osaka")
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
        cases = {
            "not a ticket": ("hello", 422, "ticket_malformed"),
            "another kind of token": ("HV1:" + text[4:], 422, "ticket_malformed"),
            "not base45": ("HT1:" + text[4:-1], 422, "ticket_malformed"),
            "altered": (_altered(text), 422, "token_tampered"),
            "foreign-signed": (_resigned(text, impostor), 422, "token_foreign"),
            "expired": (_resigned(text, issuer, issued_at=past, expires_at=past + dt.timedelta(days=1)), 422,
                        "token_expired"),
            "unknown issuer": (signed_token.issue(stranger, PREFIX, subject="", token_id=uuid.uuid4().bytes,
                                                  issued_at=past, expires_at=past + dt.timedelta(days=90), extra={}),
                               422, "ticket_unknown_issuer"),
        }
        for name, (bad, status, code) in cases.items():
            got = await attempt(sapporo, bad)
            assert got[0] == status, (name, got)
            assert got[1]["error"]["code"] == code and got[1]["error"]["field"] == "ticket", (name, got)
        assert (await sapporo.get("/api/tickets"))["redeemed_here"] == []

        ok = await attempt(sapporo, text.lower() + "\n")  # as a scanner or a careless paste gives it
        assert ok[0] == 201 and ok[1]["state"] == "redeemed", ok


async def test_a_redemption_forged_on_the_bus_uses_the_ticket_up_but_is_shown_as_unverified(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """Anyone on the bus may publish to a ticket's subject. A redemption naming hakodate but signed by another key,
    stored first, does use the ticket up (the stream holds it): sapporo's attempt is refused, and both the error and
    sapporo's list say that the stored redemption is not signed by hakodate."""
    async with spaces_for(tmp_path, ["kobe", "sapporo", "hakodate"], lambda n: nats_server.client_url) as spaces:
        kobe, sapporo, _ = spaces
        for other in ("kobe", "hakodate"):
            await eventually(lambda o=other: knows(sapporo, o), timeout=30)
        made = await kobe.post("/api/tickets", {})
        forger = Identity.generate("hakodate")
        forged = sign_call(forger, REDEMPTION_TAG, Redemption(ticket=made["id"], issuer="kobe", space="hakodate",
                                                              attempt="forged-1", at=dt.datetime.now(dt.UTC)))
        nc = await nats.connect(nats_server.client_url)
        try:
            await nc.jetstream().publish(subject(made["id"]), forged)
        finally:
            await nc.close()
        status, body = await attempt(sapporo, made["text"])
        assert status == 409 and "not signed with its pinned key" in body["error"]["message"], body
        (row,) = (await sapporo.get("/api/tickets"))["redeemed_here"]
        assert row["state"] == "taken" and row["redeemed_by"] == "hakodate" and "pinned key" in row["why"]


async def test_a_tickets_stream_made_without_single_use_settings_makes_the_node_refuse_redemptions(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """Someone made stream TICKETS by hand with `discard: new` but without `discard_new_per_subject` (which alone would
    let a second redemption push the first out). The node checks the stream at start and refuses to redeem, saying
    what the stream lacks (503 tickets_unsafe), rather than honour a ticket twice."""
    nc = await nats.connect(nats_server.client_url)
    try:
        await nc.jsm().add_stream(dataclasses.replace(stream_config(1), discard_new_per_subject=False,
                                                      discard=DiscardPolicy.OLD))
    finally:
        await nc.close()
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (kobe,):
        made = await kobe.post("/api/tickets", {})

        async def connected() -> bool:
            return bool((await kobe.get("/healthz"))["bus"] == "connected")

        await eventually(connected, timeout=30)
        status, body = await attempt(kobe, made["text"])
        assert status == 503, body
        assert body["error"]["code"] == "tickets_unsafe" and "discard_new_per_subject" in body["error"]["message"]
        assert (await kobe.get("/api/tickets"))["redeemed_here"] == []


async def test_an_attempt_whose_node_died_mid_claim_is_settled_at_the_next_start(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """sapporo was killed after its attempt was kept and sent, before the outcome was written: the stream holds the
    redemption, sapporo's book only the begun attempt. At the next start the settler finds it (nobody at the desk
    was told anything, so the guest counts as not let in), reads the ticket back and records it as sapporo's; kobe
    learns where its ticket went from the audit record."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await eventually(lambda: knows(sapporo, "kobe"), timeout=30)
        made = await kobe.post("/api/tickets", {})
        await sapporo.kill()
        ticket, _ = read(made["text"])
        ident = Identity.load("sapporo", sapporo.dir)
        begun = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        attempt_id = new_id()
        record = sign_call(ident, REDEMPTION_TAG, Redemption(ticket=ticket.id, issuer="kobe", space="sapporo",
                                                             attempt=attempt_id, at=begun))
        migrations = [(f.name, f.migrations) for f in DEFAULT if f.migrations]
        async with Store(sapporo.dir / DB_FILE, migrations) as store:
            await store.transact(lambda tx: book.begin(tx, ticket, attempt_id, begun, record))
        nc = await nats.connect(nats_server.client_url)
        try:
            await nc.jetstream().publish(subject(ticket.id), record, headers={
                Header.MSG_ID: attempt_id, Header.EXPECTED_LAST_SUBJECT_SEQUENCE: "0"})
        finally:
            await nc.close()
        await sapporo.start()

        async def settled() -> dict[str, Any] | None:
            (row,) = (await sapporo.get("/api/tickets"))["redeemed_here"]
            return dict(row) if row["state"] != "pending" else None

        row = await eventually(settled, timeout=60, interval=0.5)
        assert (row["state"], row["admitted"], row["redeemed_by"]) == ("redeemed", False, "sapporo"), row

        async def known_at_kobe() -> bool:
            item = await issued_state(kobe, ticket.id)
            return bool(item["state"] == "redeemed" and item["redeemed_by"] == "sapporo")

        await eventually(known_at_kobe, timeout=30)


def test_a_tickets_stream_with_fewer_replicas_than_the_node_is_set_up_for_is_a_problem() -> None:
    """A node set up for three replicas finds stream TICKETS made with one: a single server would decide alone."""
    assert any("num_replicas is 1, not 3" in p for p in problems(stream_config(1), 3))
    assert problems(stream_config(3), 3) == []
    assert problems(stream_config(1), 1) == []


async def test_a_refused_attempt_is_made_void_only_once_it_can_no_longer_land_and_a_late_landing_is_ours(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """sapporo refused two holders while the cluster did not answer (policy refuse), one 30 minutes ago and one 5
    minutes ago; neither request is on the stream. The old one is past the stream's duplicate window: void. The recent
    one could still be sitting in a client's buffer: it stays pending. Then the void one's request does land (late):
    the ticket shown again at sapporo is refused as already redeemed at sapporo, and the late attempt is recorded as
    sapporo's redemption (nobody let in)."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        await eventually(lambda: knows(sapporo, "kobe"), timeout=30)
        old_text, recent_text = [(await kobe.post("/api/tickets", {}))["text"] for _ in range(2)]
        await sapporo.kill()
        ident = Identity.load("sapporo", sapporo.dir)
        migrations = [(f.name, f.migrations) for f in DEFAULT if f.migrations]
        kept: dict[str, tuple[str, bytes]] = {}
        async with Store(sapporo.dir / DB_FILE, migrations) as store:
            for name, text, minutes in (("old", old_text, 30), ("recent", recent_text, 5)):
                ticket, _ = read(text)
                begun = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
                attempt_id = new_id()
                record = sign_call(ident, REDEMPTION_TAG, Redemption(ticket=ticket.id, issuer="kobe", space="sapporo",
                                                                     attempt=attempt_id, at=begun))
                kept[name] = (attempt_id, record)

                def refused(tx: Any, t: Any = ticket, a: str = attempt_id, r: bytes = record,
                            b: dt.datetime = begun) -> None:
                    book.begin(tx, t, a, b, r)
                    book.settle(tx, ident, a, book.Outcome("pending", False, why="timeout"))

                await store.transact(refused)
        await sapporo.start()

        async def state(attempt_id: str) -> str:
            (row,) = [r for r in (await sapporo.get("/api/tickets"))["redeemed_here"] if r["attempt"] == attempt_id]
            return str(row["state"])

        await eventually(lambda: _is(state(kept["old"][0]), "void"), timeout=60, interval=0.5)
        assert await state(kept["recent"][0]) == "pending"  # settled in the same pass, oldest first

        old_ticket, _ = read(old_text)
        nc = await nats.connect(nats_server.client_url)
        try:
            await nc.jetstream().publish(subject(old_ticket.id), kept["old"][1], headers={
                Header.MSG_ID: kept["old"][0], Header.EXPECTED_LAST_SUBJECT_SEQUENCE: "0"})
        finally:
            await nc.close()
        status, body = await attempt(sapporo, old_text)
        assert status == 409 and "already redeemed at sapporo" in body["error"]["message"], (status, body)
        (row,) = [r for r in (await sapporo.get("/api/tickets"))["redeemed_here"] if r["attempt"] == kept["old"][0]]
        assert (row["state"], row["admitted"], row["redeemed_by"]) == ("redeemed", False, "sapporo"), row


async def _is(got: Any, want: str) -> bool:
    return bool(await got == want)
