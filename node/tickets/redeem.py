"""Redeeming a ticket at this space's desk: verify offline, claim on the ledger, record the
outcome, tell the operator in plain terms (DESIGN §5).

The attempt is kept in SQLite before it is sent (a node killed mid-claim settles it at the
next start), then claimed; its outcome and its audit record commit in one transaction.
The space's policy decides only when the cluster cannot answer: admit the holder as
pending (settled by reading back later) or refuse until it can.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from node.context import Context
from node.errors import HitodeError
from node.federation.identity import sign_call
from node.federation.outbox import new_id
from node.store import Tx
from node.tickets import book
from node.tickets.ledger import Claim, Ledger
from node.tickets.ticket import AlreadyRedeemed, NotUsable, Ticket, Unconfirmed, read, verify
from schemas.ticket import REDEMPTION_TAG, Policy, Redemption

__all__ = ["redeem", "refusal", "outcome_of", "vouch", "key_finder"]


def outcome_of(claim: Claim, policy: Policy, me: str, attempt: str) -> book.Outcome:
    """What a claim means for the holder at the desk (a plain rule, no I/O)."""
    if claim.outcome == "redeemed":
        return book.Outcome("redeemed", True, winner_space=me, winner_attempt=attempt,
                            winner_at=dt.datetime.now(dt.UTC))
    if claim.outcome == "taken":
        won = claim.winner.redemption if claim.winner is not None else None
        if won is None:
            return book.Outcome("taken", False, why="the ticket's subject holds a message that is not a redemption")
        return book.Outcome("taken", False, winner_space=won.space, winner_attempt=won.attempt, winner_at=won.at)
    return book.Outcome("pending", policy == "admit", why=claim.why)


async def vouch(ctx: Context, claim: Claim, o: book.Outcome) -> book.Outcome:
    """A redemption read back names its space; it counts as that space's only if signed with
    its pinned key (anyone on the bus may publish to a ticket's subject). The ticket is used
    up either way, since the stream holds the message: the operator is told it is unverified."""
    won = claim.winner.redemption if claim.winner is not None else None
    if o.state != "taken" or won is None or claim.winner is None:
        return o
    if claim.winner.key != await key_finder(ctx, won.space):
        o.why = f"the stored redemption names {won.space} but is not signed with its pinned key"
    return o


async def key_finder(ctx: Context, issuer: str) -> bytes | None:
    if issuer == ctx.space:
        return ctx.ident.sign_key
    got = await ctx.store.scalar("SELECT sign_key FROM pins WHERE space = ?", (issuer,))
    return bytes(got) if got is not None else None


async def redeem(ctx: Context, ledger: Ledger, text: str, *, unsafe: str = "") -> dict[str, Any]:
    """Redeem a ticket's text here: what came of it (recorded), or the error saying why the
    text is not a ticket this node can honour (nothing recorded)."""
    now = dt.datetime.now(dt.UTC)
    claimed, _ = read(text)
    key = await key_finder(ctx, claimed.issuer)
    ticket: Ticket = verify(text, lambda _issuer: key, now)
    if unsafe:
        raise NotUsable(f"tickets cannot be redeemed safely now: stream TICKETS {unsafe}")
    attempt = new_id()
    record = sign_call(ctx.ident, REDEMPTION_TAG, Redemption(ticket=ticket.id, issuer=ticket.issuer, space=ctx.space,
                                                             attempt=attempt, at=now))
    def start(tx: Tx) -> book.Outcome | None:
        # a ticket already known used here is refused without asking the cluster (which a
        # space cut off could not ask): the refusal is the attempt's whole record
        used = book.known_used(tx, ctx.space, ticket.id)
        book.begin(tx, ticket, attempt, now, record)
        if used is not None:
            book.settle(tx, ctx.ident, attempt, used)
        return used

    o = await ctx.store.transact(start)
    if o is None:
        claim = await ledger.claim(ticket.id, attempt, record)
        policy = await book.policy(ctx.store)
        o = await vouch(ctx, claim, outcome_of(claim, policy, ctx.space, attempt))
        def finish(tx: Tx, o: book.Outcome) -> None:
            book.settle(tx, ctx.ident, attempt, o)
            book.own_late(tx, ctx.ident, o)

        await ctx.store.transact(lambda tx: finish(tx, o))
    out = {"attempt": attempt, "ticket": ticket.id, "issuer": ticket.issuer, "state": o.state,
           "admitted": o.admitted, "redeemed_by": o.winner_space or None,
           "redeemed_at": o.winner_at.isoformat() if o.winner_at else None, "why": o.why}
    return out


def refusal(out: dict[str, Any]) -> HitodeError | None:
    """The error an API client gets for an attempt that did not let the holder in."""
    if out["state"] == "taken":
        where = out["redeemed_by"] or "an unknown space"
        when = f" on {out['redeemed_at'][:16].replace('T', ' ')} UTC" if out["redeemed_at"] else ""
        why = f" ({out['why']})" if out.get("why") else ""
        return AlreadyRedeemed(f"this ticket was already redeemed at {where}{when}{why}", field="ticket")
    if out["state"] == "pending" and not out["admitted"]:
        return Unconfirmed("the federation cannot be reached to confirm this ticket, and this space refuses "
                           "unconfirmed tickets; try again when the connection is back", field="ticket")
    return None
