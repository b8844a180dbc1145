"""The tickets' rules without a bus: what a claim means at the desk, and what a ticket is
once its book and the federation's audit records are read together."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from node.federation.identity import Identity
from node.store import Store, Tx
from node.tickets import book
from node.tickets.ledger import Claim, Winner
from node.tickets.redeem import outcome_of
from node.tickets.ticket import Unreadable, issue, verify
from schemas.ticket import Redemption

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def _winner(space: str, attempt: str) -> Winner:
    return Winner(redemption=Redemption(ticket="0190a0b0-0000-7000-8000-000000000001", issuer="kobe", space=space,
                                        attempt=attempt, at=NOW), key=b"k" * 32, seq=7)


def test_an_ack_lets_the_guest_in_and_names_this_space() -> None:
    o = outcome_of(Claim(outcome="redeemed"), "refuse", "sapporo", "a1")
    assert (o.state, o.admitted, o.winner_space, o.winner_attempt) == ("redeemed", True, "sapporo", "a1")


def test_a_refusal_read_back_names_who_holds_the_ticket() -> None:
    """A refusal whose read-back is this very attempt (its ack was lost) lets the guest in; another's is shown."""
    # the ledger says "redeemed" when the read-back is this attempt's; another's is "taken", with who and when
    mine = outcome_of(Claim(outcome="redeemed", winner=_winner("sapporo", "a1")), "admit", "sapporo", "a1")
    assert (mine.state, mine.admitted) == ("redeemed", True)
    o = outcome_of(Claim(outcome="taken", winner=_winner("hakodate", "b9")), "admit", "sapporo", "a1")
    assert (o.state, o.admitted, o.winner_space, o.winner_attempt, o.winner_at) == ("taken", False, "hakodate", "b9", NOW)


def test_when_the_cluster_does_not_answer_the_spaces_policy_decides() -> None:
    assert outcome_of(Claim(outcome="pending", why="timeout"), "admit", "sapporo", "a1").admitted
    refused = outcome_of(Claim(outcome="pending", why="timeout"), "refuse", "sapporo", "a1")
    assert (refused.state, refused.admitted, refused.why) == ("pending", False, "timeout")


def test_a_ticket_verifies_with_its_issuers_key_only_and_says_why_not() -> None:
    kobe = Identity.generate("kobe")
    ticket, text = issue(kobe, valid_days=30, now=NOW)
    assert verify(text, lambda s: kobe.sign_key if s == "kobe" else None, NOW + dt.timedelta(days=1)) == ticket
    for bad, code in ((text[:-4], "ticket_malformed"), ("", "ticket_malformed")):
        try:
            verify(bad, lambda s: kobe.sign_key, NOW)
        except Unreadable as e:
            assert (e.code, e.field, e.status) == (code, "ticket", 422)
        else:
            raise AssertionError("refused nothing")


async def test_the_issuers_list_reads_its_book_and_the_federations_audit_together(tmp_path: Path) -> None:
    """kobe issued three tickets: one redeemed at hakodate (hakodate's audit record), one pending at sapporo, one
    never used; a fourth expired unused."""
    kobe = Identity.generate("kobe")
    async with Store(tmp_path / "db", [("tickets", book.MIGRATIONS)]) as store:
        made = [issue(kobe, valid_days=d, now=NOW) for d in (30, 30, 30, 1)]
        for ticket, text in made:
            await store.transact(lambda tx, t=ticket, x=text: book.save_issued(tx, t, x, ""))

        def audit(tx: Tx, author: str, ticket: str, state: str, version: int) -> None:
            tx.execute("INSERT INTO ticket_audit (author, attempt, ticket, issuer, state, admitted, winner_space, at,"
                       " version) VALUES (?, ?, ?, 'kobe', ?, 1, ?, ?, ?)",
                       (author, f"{author}-1", ticket, state, author if state == "redeemed" else "",
                        NOW.timestamp(), version))

        await store.transact(lambda tx: audit(tx, "hakodate", made[0][0].id, "redeemed", 1))
        await store.transact(lambda tx: audit(tx, "sapporo", made[1][0].id, "pending", 1))
        listed = {i["id"]: i for i in await book.issued(store, "kobe", NOW + dt.timedelta(days=2))}
        assert (listed[made[0][0].id]["state"], listed[made[0][0].id]["redeemed_by"]) == ("redeemed", "hakodate")
        assert listed[made[1][0].id]["state"] == "pending"
        assert listed[made[2][0].id]["state"] == "unused"
        assert listed[made[3][0].id]["state"] == "expired"
        assert not any(i["redeemed_twice"] for i in listed.values())


async def test_a_settled_attempt_is_never_moved_back_to_pending(tmp_path: Path) -> None:
    """sapporo's attempt was settled as redeemed; a late answer from a claim still in flight says "pending" (the
    cluster did not answer it in time): the book keeps "redeemed", and no new audit version is published."""
    sapporo = Identity.generate("sapporo")
    kobe = Identity.generate("kobe")
    async with Store(tmp_path / "db", [("tickets", book.MIGRATIONS)]) as store:
        ticket, _ = issue(kobe, valid_days=30, now=NOW)
        await store.transact(lambda tx: book.begin(tx, ticket, "a1", NOW, b"signed"))
        won = book.Outcome("redeemed", True, winner_space="sapporo", winner_attempt="a1", winner_at=NOW)
        assert await store.transact(lambda tx: book.settle(tx, sapporo, "a1", won))
        late = book.Outcome("pending", True, why="timeout")
        assert not await store.transact(lambda tx: book.settle(tx, sapporo, "a1", late))
        (row,) = await book.attempts(store, ticket.id)
        assert (row["state"], row["redeemed_by"]) == ("redeemed", "sapporo"), row
