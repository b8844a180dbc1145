"""Coworking Visa records: passes' status lists, visits on both books, honoured counts.

A pass itself never travels on the bus: the member carries it (a signed token, see
node/federation/signed_token.py). What travels: the home space's `VisaStatus` (pub: one
bit per pass it ever issued, set when revoked), each `Visit` as a sealed dm from the host
to the member's home space and the home's `VisitAck` back, and the host's monthly
`VisaHonoured` count (pub: a number per month, no member data). The visa check itself is
request/reply (`hitode.rpc.<home>.visa`): `VisaCheck` and `VisaStanding`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.ids import RecordId, SpaceId
from schemas.text import LINE
from schemas.time import AwareDateTime

__all__ = ["VisaStatus", "Visit", "VisitAck", "VisaHonoured", "VisaCheck", "VisaStanding", "BooksAsk", "BooksAnswer",
           "PassInput",
           "CheckInInput", "Month", "Flag", "Standing"]

Month = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
Day = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="YYYY-MM-DD")]
PassId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$", description="a pass id: 8 bytes in hex")]
MemberId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Standing = Literal["active", "revoked", "expired", "unknown"]
# Why a visit stands out on the books: over the host's free days, or a member whose
# standing the home could not confirm. Flags are kept, never dropped.
Flag = Literal["overrun", "not_in_standing"]


class VisaStatus(msgspec.Struct, frozen=True, kw_only=True, tag="visa_status"):
    """pub, record_id = the home space's id: its status list (IETF Token Status List style).

    `bits` is a zlib-compressed bit array, one bit per pass index, bit i of the list is
    bit (i % 8) of byte i // 8 (least significant first); 1 = revoked. `size` is how many
    indices have been handed out.
    """

    space: SpaceId
    size: Annotated[int, msgspec.Meta(ge=0, le=8_000_000)]
    bits: Annotated[bytes, msgspec.Meta(max_length=60_000)]
    updated_at: AwareDateTime


class Visit(msgspec.Struct, frozen=True, kw_only=True, tag="visit"):
    """dm from the host (author) to the member's home space (to); record_id = the visit id.

    Version 1 is the check-in, the next one the check-out. `verified` is False when the
    home node could not be asked at check-in (admitted by the host's policy, to reconcile).
    """

    author: SpaceId
    to: SpaceId
    record_id: RecordId
    version: Annotated[int, msgspec.Meta(ge=1)]
    pass_id: PassId
    member: MemberId
    display_name: Annotated[str, msgspec.Meta(max_length=120, pattern=LINE)] = ""
    day: Day  # the host's local date of the check-in
    checked_in_at: AwareDateTime
    checked_out_at: AwareDateTime | None = None
    verified: bool = True
    free_days: Annotated[int, msgspec.Meta(ge=0, le=31)]  # the host's policy applied
    flags: list[Flag] = []


class VisitAck(msgspec.Struct, frozen=True, kw_only=True, tag="visit_ack"):
    """dm from the home space back to the host; record_id = the visit id.

    The home's reconciliation of `answers` (the visit version it holds): the flags it
    found, and the member's visa days this month as its books count them.
    """

    author: SpaceId
    to: SpaceId
    record_id: RecordId
    version: Annotated[int, msgspec.Meta(ge=1)]
    answers: Annotated[int, msgspec.Meta(ge=1)]
    flags: list[Flag] = []
    days_used: Annotated[int, msgspec.Meta(ge=0)] = 0


class VisaHonoured(msgspec.Struct, frozen=True, kw_only=True, tag="visa_honoured"):
    """pub, record_id = "<space>:<YYYY-MM>": how many visa visits the space hosted that
    month. A count only: no member, no home space (DESIGN §6: visits go only to the two
    spaces involved)."""

    space: SpaceId
    month: Month
    visits: Annotated[int, msgspec.Meta(ge=0)]
    days: Annotated[int, msgspec.Meta(ge=0)]


class VisaCheck(msgspec.Struct, frozen=True, kw_only=True):
    """rpc `visa`, from the host to the home: this pass, this member, this month."""

    pass_id: PassId
    member: MemberId
    month: Month


class VisaStanding(msgspec.Struct, frozen=True, kw_only=True):
    """The home's answer: the member's standing, and visa days used this month at any
    space (distinct host and day), as its books count them."""

    standing: Standing
    days_used: Annotated[int, msgspec.Meta(ge=0)]


class BooksAsk(msgspec.Struct, frozen=True, kw_only=True):
    """rpc `visa_books`, between two spaces settling a month: "your visits with me"."""

    month: Month


class BooksAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The visits between the caller and the callee that month, as the callee's books hold
    them: visit id -> version. Both are parties to every one of them."""

    visits: Annotated[dict[RecordId, Annotated[int, msgspec.Meta(ge=1)]], msgspec.Meta(max_length=100_000)]


class PassInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/members/{id}/passes."""

    days: Annotated[int, msgspec.Meta(ge=1, le=400)] = 90
    tier: Annotated[str, msgspec.Meta(min_length=1, max_length=16, pattern=r"^[a-z0-9-]+$")] = "standard"


class CheckInInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/visits: the pass as text (pasted, or read from its QR code)."""

    # `pass` is a keyword in Python: the field is `pass_` here and "pass" on the wire.
    pass_: Annotated[str, msgspec.Meta(min_length=5, max_length=1000, pattern=r"^\s*[A-Z0-9]{2,3}:[0-9A-Z $%*+./:-]+\s*$",
                                       description="prefix and base45, e.g. HV1:…")] = msgspec.field(name="pass")
