"""The host's check of a visa pass: offline first, then its own policy on the home's word.

Offline, with nothing but what this node holds: the pass reads, is signed by the pinned
key of the space it names, is in date, is not set in that space's latest status list, and
comes from a space this one accepts. Then the home node is asked (by the caller, over
rpc) for the member's standing and visa days this month; `decide` applies the policy to
its answer, or to its silence. Each refusal is its own error with its own code, so the
operator and the API client learn which rule refused the pass.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, NamedTuple

from node.errors import Conflict, Forbidden, HitodeError, Invalid
from node.federation import records
from node.federation.signed_token import Token, check, read
from node.store import Store
from node.visas import status
from node.visas.passes import PREFIX
from schemas.space import VisaPolicy
from schemas.visa import VisaStanding, VisaStatus

__all__ = ["Verified", "verify_offline", "decide", "PassRevoked", "UnknownSpace", "NotAccepted", "QuotaExceeded",
           "NotInStanding", "HomeRefused", "HomeUnreachable", "OwnMember", "AlreadyHere"]


class PassRevoked(Invalid):
    code = "pass_revoked"


class UnknownSpace(Invalid):
    code = "unknown_space"


class OwnMember(Invalid):
    code = "own_member"


class NotAccepted(Forbidden):
    code = "space_not_accepted"


class QuotaExceeded(Forbidden):
    code = "quota_exceeded"


class NotInStanding(Forbidden):
    code = "not_in_standing"


class AlreadyHere(Conflict):
    code = "already_checked_in"


class HomeRefused(Forbidden):
    code = "home_refused"


class HomeUnreachable(HitodeError):
    code = "home_unreachable"
    status: ClassVar[int] = 503


class Verified(NamedTuple):
    """A pass that passed every offline check."""

    home: str
    pass_id: str
    member: str
    display_name: str
    token: Token


async def verify_offline(store: Store, me: str, policy: VisaPolicy, text: str, now: dt.datetime) -> Verified:
    token = read(text, PREFIX)
    home = token.issuer
    if home == me:
        raise OwnMember("this pass is one of this space's own: members need no visa here", field="pass")
    key = await store.scalar("SELECT sign_key FROM pins WHERE space = ?", (home,))
    if key is None:
        raise UnknownSpace(f"{home!r} is not a space this node knows, so its pass cannot be verified", field="pass")
    check(token, bytes(key), now)
    index = token.extra.get("idx")
    if not isinstance(index, int) or index < 0:
        raise Invalid("the pass carries no status list index", field="pass")
    held = await records.get(store, home, status.KIND, home, VisaStatus)
    if held is not None and status.revoked(held[0], index):
        raise PassRevoked(f"{home} revoked this pass (status list of {held[0].updated_at:%Y-%m-%d %H:%M} UTC)",
                          field="pass")
    if not policy.accepts_visas:
        raise NotAccepted("this space does not take Coworking Visa visitors now (its visa policy)", field="pass")
    if policy.accepts_from and home not in policy.accepts_from:
        raise NotAccepted(f"this space does not accept visas from {home} (its visa policy)", field="pass")
    name = token.extra.get("name")
    return Verified(home=home, pass_id=token.token_id.hex(), member=token.subject,
                    display_name=name if isinstance(name, str) else "", token=token)


def decide(policy: VisaPolicy, home: str, answer: VisaStanding | None, *, own_days: int, new_day: bool) -> bool:
    """The host's policy on the home's answer; True if verified by the home, False if
    admitted without its word (to reconcile). `own_days`: the member's visa days here this
    month by this node's books; `new_day`: this check-in starts a day not used here yet."""
    used = max(own_days, answer.days_used if answer is not None else 0)
    if new_day and used + 1 > policy.free_days_per_month:
        raise QuotaExceeded(f"the member has used {used} visa days this month; this space gives "
                            f"{policy.free_days_per_month}", field="pass")
    if answer is None:
        if policy.when_home_unreachable == "refuse":
            raise HomeUnreachable(f"{home}'s node does not answer, and this space's policy is to refuse then",
                                  field="pass")
        return False
    if answer.standing != "active":
        raise NotInStanding(f"{home} says this pass is {answer.standing}", field="pass")
    return True
