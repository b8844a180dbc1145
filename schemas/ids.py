"""Identifier types shared by every record: space ids and record ids, with their patterns.

Kept in one place so the subject grammar of DESIGN §4 (`[a-z0-9-]{2,32}`) is stated once
and enforced by msgspec at every boundary.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

__all__ = ["SpaceId", "RecordId", "Kind", "SPACE_ID_RE", "is_space_id"]

SPACE_ID_PATTERN = r"^[a-z0-9-]{2,32}$"
SPACE_ID_RE = re.compile(SPACE_ID_PATTERN)

SpaceId = Annotated[
    str,
    msgspec.Meta(pattern=SPACE_ID_PATTERN, description="a space id: 2-32 of a-z, 0-9, -"),
]
RecordId = Annotated[
    str,
    msgspec.Meta(pattern=r"^[A-Za-z0-9._:-]{1,128}$", description="stable across versions"),
]
Kind = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


def is_space_id(value: str) -> bool:
    return SPACE_ID_RE.match(value) is not None
