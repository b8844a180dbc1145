"""Instants on the wire and at the HTTP edge: RFC 3339 date-times, said so in the schemas.

msgspec parses RFC 3339 but its JSON Schema says only "a string"; these types say
`format: date-time` and give the pattern msgspec accepts, so a generated client or a fuzzer
knows that "" is not a time (JSON Schema's `format` alone is an annotation).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

import msgspec

__all__ = ["DATETIME", "DateTime", "AwareDateTime"]

DATETIME: Final = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$"
)
_SCHEMA: Final = {"format": "date-time", "pattern": DATETIME}

DateTime = Annotated[dt.datetime, msgspec.Meta(extra_json_schema=_SCHEMA)]
AwareDateTime = Annotated[dt.datetime, msgspec.Meta(tz=True, extra_json_schema=_SCHEMA)]
