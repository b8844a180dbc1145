"""The front desk: checking a visitor in and out, and answering other hosts about our members.

Check-in runs the offline checks, asks the home over `hitode.rpc.<home>.visa` (a signed
request with a short timeout), applies this space's policy to the answer or to the
silence, and books the visit and its dm home in one transaction. A refusal books nothing
but a line for the operator, with the code the API answers with.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec

from node.context import Context
from node.errors import HitodeError, Rejected
from node.federation.outbox import new_id
from node.federation.rpc import Refused, call
from node.federation.signed_token import read
from node.store import Tx
from node.visas import books, checkin, passes, settlement
from schemas.space import VisaPolicy
from schemas.visa import BooksAnswer, BooksAsk, VisaCheck, VisaStanding, Visit

__all__ = ["OP", "BOOKS_OP", "check_in", "check_out", "answer_check", "answer_books", "cross_check", "policy_of"]

OP: Final = "visa"
BOOKS_OP: Final = "visa_books"
ASK_TIMEOUT: Final = 2.0  # seconds: a person is waiting at the desk


async def policy_of(ctx: Context) -> VisaPolicy:
    held = await ctx.directory.own()
    return held[0].visa_policy if held is not None else VisaPolicy()


async def check_in(ctx: Context, text: str) -> Visit:
    now = dt.datetime.now(dt.UTC)
    policy = await policy_of(ctx)
    day = now.astimezone(ZoneInfo(ctx.config.space.tz)).date().isoformat()
    month = day[:7]
    try:
        v = await checkin.verify_offline(ctx.store, ctx.space, policy, text, now)
        own_days = int(await ctx.store.scalar(
            "SELECT count(DISTINCT day) FROM visits WHERE host = ? AND member = ? AND month = ?",
            (ctx.space, v.member, month)) or 0)
        here_today = await ctx.store.scalar(
            "SELECT 1 FROM visits WHERE host = ? AND member = ? AND day = ?", (ctx.space, v.member, day))
        try:
            answer = await call(ctx.bus, ctx.store, ctx.ident, v.home, OP,
                                VisaCheck(pass_id=v.pass_id, member=v.member, month=month), VisaStanding,
                                timeout=ASK_TIMEOUT)
        except Refused as e:  # the home itself said no: not silence, so no policy admits it
            raise checkin.HomeRefused(f"{v.home} refuses to vouch for this pass: {e.message}", field="pass") from None
        except Rejected:
            answer = None  # an answer that does not verify counts as none
        verified = checkin.decide(policy, v.home, answer, own_days=own_days, new_day=here_today is None)

        def unit(tx: Tx) -> Visit:
            return books.check_in(tx, ctx.ident, v, visit_id=new_id(), verified=verified,
                                  free_days=policy.free_days_per_month, day=day, now=now)

        return await ctx.store.transact(unit)
    except HitodeError as e:
        home, pass_id = _who(text)
        await ctx.store.transact(lambda tx: books.refuse(tx, home, pass_id, e.code, e.message))
        raise


def _who(text: str) -> tuple[str, str]:
    """What a refused pass says of itself, for the operator's list (when it reads at all)."""
    try:
        token = read(text, passes.PREFIX)
    except HitodeError:
        return "", ""
    return token.issuer, token.token_id.hex()


async def check_out(ctx: Context, visit_id: str) -> Visit:
    now = dt.datetime.now(dt.UTC)
    return await ctx.store.transact(lambda tx: books.check_out(tx, ctx.ident, visit_id, now))


async def answer_check(ctx: Context, caller: str, body: bytes) -> VisaStanding:
    """rpc `visa` at the home: the standing of our member's pass and their visa days."""
    req = msgspec.msgpack.decode(body, type=VisaCheck)
    # A read, in the writer's unit so it sees the visits applied so far; nothing to make durable.
    standing, days = await ctx.store.transact(
        lambda tx: passes.standing(tx, ctx.space, req.pass_id, req.member, req.month), durable=False)
    return VisaStanding(standing=standing, days_used=days)



async def answer_books(ctx: Context, caller: str, body: bytes) -> BooksAnswer:
    """rpc `visa_books`: our side of the month's visits with the caller, to compare."""
    ask = msgspec.msgpack.decode(body, type=BooksAsk)
    return BooksAnswer(visits=await settlement.books_with(ctx.store, ctx.space, caller, ask.month))


async def cross_check(ctx: Context, result: dict[str, Any]) -> dict[str, Any]:
    """The month's settlement with each partner's own books beside ours (asked now)."""
    month = result["month"]
    for p in result["partners"]:
        mine = await settlement.books_with(ctx.store, ctx.space, p["space"], month)
        try:
            theirs = await call(ctx.bus, ctx.store, ctx.ident, p["space"], BOOKS_OP, BooksAsk(month=month),
                                BooksAnswer, timeout=ASK_TIMEOUT)
        except Rejected:
            theirs = None
        p["check"] = settlement.compare(mine, theirs.visits if theirs is not None else None)
    return result
