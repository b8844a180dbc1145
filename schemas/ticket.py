"""Common tickets on the wire: the redemption stored on `hitode.ticket.<ticket id>`, the
`pub` record that makes every redemption attempt public for audit, and the HTTP input.

A ticket itself is a signed token (COSE_Sign1/CWT, base45 behind the prefix `HT1:`), read
by node.tickets.ticket; it carries no member data, only its id, issuer and validity. The
redemption is a signed call (its own domain tag, so it cannot pass for a record or an RPC):
whoever reads the subject back checks who redeemed the ticket with that space's pinned key.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from schemas.ids import SpaceId
from schemas.text import LINE
from schemas.time import AwareDateTime

__all__ = ["REDEMPTION_TAG", "TicketId", "Redemption", "TicketRedemption", "TicketInput", "RedeemInput",
           "PolicyInput", "State", "Policy"]

REDEMPTION_TAG: Final = b"hitode/v1/ticket-redemption\x00"
TicketId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                                       description="a ticket's id (a UUID), also its subject token")]
# redeemed: this attempt is the ticket's one redemption; taken: another attempt was first;
# pending: the cluster did not answer; void: never stored, and the member was refused
State = Literal["redeemed", "taken", "pending", "void"]
# when the cluster cannot say whether a ticket is still free
Policy = Literal["admit", "refuse"]


class Redemption(msgspec.Struct, frozen=True, kw_only=True):
    """What a space stores on the ticket's subject: the first one stored wins."""

    ticket: TicketId
    issuer: SpaceId
    space: SpaceId  # the redeeming space, whose key signs this
    attempt: str  # also the message's Nats-Msg-Id
    at: AwareDateTime


class TicketRedemption(msgspec.Struct, frozen=True, kw_only=True, tag="ticket_redemption"):
    """The audit record (pub): one per attempt, a new version when a pending one settles."""

    ticket: TicketId
    issuer: SpaceId
    attempt: str
    at: AwareDateTime
    state: State
    admitted: bool
    winner_space: str = ""  # who holds the redemption, once known
    winner_attempt: str = ""
    winner_at: AwareDateTime | None = None


class TicketInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/tickets: how many days the ticket stays valid, and a note for this space's
    own list (it is not in the ticket: no member data travels)."""

    valid_days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 90
    note: Annotated[str, msgspec.Meta(max_length=200, pattern=LINE)] = ""


class RedeemInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/tickets/redeem: the ticket's text as printed (or read from its QR code)."""

    ticket: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class PolicyInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PUT /api/tickets/policy: admit a ticket holder as pending, or refuse, while the
    federation cannot confirm the ticket."""

    when_unconfirmed: Policy
