"""Local members: never on the bus. Only a pseudonymous id and opted-in fields leave."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["MemberInput", "MemberPatch"]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
Skill = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]


class MemberInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    email: Annotated[str, msgspec.Meta(max_length=200)] = ""
    share_name: bool = False
    skills: list[Skill] = []


class MemberPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    email: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    share_name: bool | msgspec.UnsetType = msgspec.UNSET
    skills: list[Skill] | msgspec.UnsetType = msgspec.UNSET
