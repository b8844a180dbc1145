"""Requests for mutual help: the request (pub), offers and referrals (dm), and HTTP input.

A `HelpRequest` is a `pub` record authored by the space that posts it, for one of its
members (named only by the pseudonymous federation id, and by display name only if the
member shares it) or for the space itself. Answers are sealed `dm` records: an `Offer`
to the requesting space (a member's offer with only what the member shares, or a
referral naming another space), and a `Referral` to the space named, which then sees the
request as addressed to it. Acceptance travels back in the request itself (`accepted`
offer ids), so no member data is needed for it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.ids import RecordId, SpaceId
from schemas.text import LINE, LONG, NAME
from schemas.time import AwareDateTime, DateTime

__all__ = [
    "HelpRequest", "Offer", "Referral", "RequestInput", "OfferInput", "CloseInput", "AcceptInput",
    "RequestFilters", "SynonymsInput", "RequestKind", "Reward", "RequestStatus",
]

RequestKind = Literal["help", "contract", "consult", "collab"]
Reward = Literal["paid", "barter", "volunteer"]
RequestStatus = Literal["open", "matched", "closed", "expired", "withdrawn"]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NAME)]
Text = Annotated[str, msgspec.Meta(max_length=8000, pattern=LONG)]
Skill = Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=NAME)]
Skills = Annotated[list[Skill], msgspec.Meta(max_length=20)]
Region = Annotated[str, msgspec.Meta(max_length=60, pattern=LINE)]
Line = Annotated[str, msgspec.Meta(max_length=120, pattern=LINE)]
MemberRef = Annotated[str, msgspec.Meta(max_length=40, pattern=r"^(m-[0-9a-f]{24})?$",
                                        description="a member's pseudonymous federation id, or empty")]


class HelpRequest(msgspec.Struct, frozen=True, kw_only=True, tag="request"):
    id: RecordId
    space: SpaceId
    kind: RequestKind
    title: Title
    body: Text = ""
    skills: Skills = []
    region: Region = ""
    online_ok: bool = True
    deadline: AwareDateTime
    reward: Reward
    status: RequestStatus = "open"
    member: MemberRef = ""  # empty: posted for the space itself
    display_name: Line = ""  # only if the member shares it
    accepted: Annotated[list[RecordId], msgspec.Meta(max_length=100)] = []
    created_at: AwareDateTime


class Offer(msgspec.Struct, frozen=True, kw_only=True, tag="offer"):
    """To the requesting space: a member offers, or the sender refers it to another space."""

    author: SpaceId
    to: SpaceId
    record_id: RecordId
    version: Annotated[int, msgspec.Meta(ge=1)]
    request_id: RecordId
    kind: Literal["offer", "referral"]
    member: MemberRef = ""
    display_name: Line = ""
    skills: Skills = []  # only the skills the member shares
    message: Text = ""
    referred: SpaceId | None = None


class Referral(msgspec.Struct, frozen=True, kw_only=True, tag="referral"):
    """To the space a referral names: this request is addressed to you."""

    author: SpaceId
    to: SpaceId
    record_id: RecordId
    version: Annotated[int, msgspec.Meta(ge=1)]
    request_id: RecordId
    request_space: SpaceId
    message: Text = ""


class RequestInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/requests: a deadline without an offset is read in the space's zone."""

    kind: RequestKind = "help"
    title: Title
    body: Text = ""
    skills: Skills = []
    region: Region = ""
    online_ok: bool = True
    deadline: DateTime
    reward: Reward = "volunteer"
    member: Annotated[str, msgspec.Meta(max_length=128, pattern=r"^[A-Za-z0-9._:-]*$",
                                        description="the local member it is for; empty: for the space")] = ""


class OfferInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/requests/{id}/offers: `member` offers, or `referral` names another space."""

    member: Annotated[str, msgspec.Meta(max_length=128, pattern=r"^[A-Za-z0-9._:-]*$")] = ""
    referral: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^([a-z0-9-]{2,32})?$")] = ""
    message: Text = ""


class AcceptInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    offers: Annotated[list[RecordId], msgspec.Meta(min_length=1, max_length=100)]


class CloseInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/requests/{id}/close: closed (done), or withdrawn; accepting offers on the way."""

    status: Literal["closed", "withdrawn"] = "closed"
    accept: Annotated[list[RecordId], msgspec.Meta(max_length=100)] = []


class RequestFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Query of GET /api/requests."""

    status: RequestStatus | None = None
    kind: RequestKind | None = None
    skill: Annotated[str, msgspec.Meta(max_length=60)] | None = None
    region: Annotated[str, msgspec.Meta(max_length=60)] | None = None
    space: SpaceId | None = None
    text: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50


class SynonymsInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PUT /api/skills/synonyms: each group's terms are one skill, named by its first term."""

    groups: Annotated[list[Annotated[list[Skill], msgspec.Meta(min_length=1, max_length=50)]],
                      msgspec.Meta(max_length=500)]
