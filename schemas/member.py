"""Local members: never on the bus. Only a pseudonymous id and opted-in fields leave."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.text import LINE, NAME

__all__ = ["MemberInput", "MemberPatch", "Availability"]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=NAME)]
Skill = Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=NAME)]
# No `\s` alone: Python and ECMAScript disagree on \x1c-\x1f and \x85; controls are named.
Email = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^([^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+)?$",
                                    description="an e-mail address, or empty")]
Availability = Literal["available", "busy", "away"]
Region = Annotated[str, msgspec.Meta(max_length=60, pattern=LINE)]


class MemberInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    email: Email = ""
    share_name: bool = False
    skills: list[Skill] = []
    # Which of `skills` the member lets leave the node (in an offer); none unless said.
    shared_skills: list[Skill] = []
    availability: Availability = "available"
    region: Region = ""


class MemberPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    share_name: bool | msgspec.UnsetType = msgspec.UNSET
    skills: list[Skill] | msgspec.UnsetType = msgspec.UNSET
    shared_skills: list[Skill] | msgspec.UnsetType = msgspec.UNSET
    availability: Availability | msgspec.UnsetType = msgspec.UNSET
    region: Region | msgspec.UnsetType = msgspec.UNSET
