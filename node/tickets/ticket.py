"""A common ticket as its holder carries it: a signed token of the issuing space, checked
offline (DESIGN §5).

The ticket is a COSE_Sign1/CWT (the federation's signed-token codec) behind the prefix
`HT1:`: its id (the CWT `cti`, a UUID, also its subject on stream TICKETS), its issuer and
its validity. It names no member: who holds it is nobody's business but the desk's. Any
space verifies it with the issuer's pinned key, even while the issuer's node is down.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Final

import msgspec

from node.errors import Conflict, HitodeError, Invalid
from node.federation import signed_token
from node.federation.identity import Identity
from node.federation.outbox import new_id

__all__ = ["PREFIX", "Ticket", "issue", "read", "verify", "Unreadable", "UnknownIssuer", "AlreadyRedeemed", "Unconfirmed",
           "NotUsable"]

PREFIX: Final = "HT1:"
FIELD: Final = "ticket"


class Unreadable(Invalid):
    """Well-formed JSON whose ticket text is not a ticket (a rule of the field, not of JSON)."""

    code = "ticket_malformed"


class UnknownIssuer(Invalid):
    code = "ticket_unknown_issuer"


class AlreadyRedeemed(Conflict):
    code = "ticket_already_redeemed"


class Unconfirmed(HitodeError):
    """The cluster could not confirm the ticket, and this space refuses until it can."""

    code = "ticket_unconfirmed"
    status = 503


class NotUsable(HitodeError):
    """Stream TICKETS is not set up for single use: redeeming now could honour a ticket twice."""

    code = "tickets_unsafe"
    status = 503


class Ticket(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    issuer: str
    issued_at: dt.datetime
    expires_at: dt.datetime


def issue(ident: Identity, *, valid_days: int, now: dt.datetime) -> tuple[Ticket, str]:
    """A new ticket of this space and its text (what the QR code holds)."""
    tid = new_id()
    ticket = Ticket(id=tid, issuer=ident.space, issued_at=now.replace(microsecond=0),
                    expires_at=(now + dt.timedelta(days=valid_days)).replace(microsecond=0))
    text = signed_token.issue(ident, PREFIX, subject="", token_id=uuid.UUID(tid).bytes,
                              issued_at=ticket.issued_at, expires_at=ticket.expires_at, extra={})
    return ticket, text


def _tidy(text: str) -> str:
    """As pasted from a printout or a scanner: line breaks out, letters upper case (base45
    has no lower case; its space character is kept)."""
    return "".join(text.replace("\r", "").split("\n")).strip().upper()


def _as_ticket(e: HitodeError) -> HitodeError:
    if isinstance(e, signed_token.TokenMalformed):
        return Unreadable(e.message.replace("token", "ticket"), field=FIELD)
    e.field = FIELD
    e.message = e.message.replace("token", "ticket")
    return e


def read(text: str) -> tuple[Ticket, signed_token.Token]:
    """Parse without trusting: who says they issued it (to find their key)."""
    try:
        token = signed_token.read(_tidy(text), PREFIX)
    except HitodeError as e:
        raise _as_ticket(e) from None
    if len(token.token_id) != 16:
        raise _as_ticket(signed_token.TokenMalformed("not a ticket: its id is not a UUID"))
    ticket = Ticket(id=str(uuid.UUID(bytes=token.token_id)), issuer=token.issuer,
                    issued_at=token.issued_at, expires_at=token.expires_at)
    return ticket, token


def verify(text: str, key_of: Callable[[str], bytes | None], now: dt.datetime) -> Ticket:
    """The ticket if its issuer's pinned key signed it and it is valid now; else a 4xx error
    saying which (422): not a ticket, unknown issuer, altered, foreign-signed or expired."""
    ticket, token = read(text)
    key = key_of(ticket.issuer)
    if key is None:
        raise UnknownIssuer(f"issued by {ticket.issuer!r}, a space this node does not know", field=FIELD)
    try:
        signed_token.check(token, key, now)
    except HitodeError as e:
        raise _as_ticket(e) from None
    return ticket
