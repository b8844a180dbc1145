"""The one error tree of hitode.

Every failure a caller may act on is a ``HitodeError`` with a stable ``code`` and an HTTP
``status``; adapters (store, bus, embedded nats) translate the library errors they meet
into these, and the HTTP layer maps them to ``{"error": {...}}`` in one place.
"""

from __future__ import annotations

import re
from typing import ClassVar, Final

import msgspec

from schemas.text import explain

__all__ = [
    "HitodeError",
    "BadInput",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "TooLarge",
    "Invalid",
    "PreconditionFailed",
    "UnsupportedMediaType",
    "ConfigError",
    "StoreError",
    "BusUnavailable",
    "NatsServerError",
    "Rejected",
    "bad_input_from",
]


class HitodeError(Exception):
    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


class BadInput(HitodeError):
    code = "bad_input"
    status = 400


class Invalid(BadInput):
    """Well-formed input that breaks a rule of the domain (an end before its start, an
    unknown time zone, a note to oneself): 422, where 400 means the shape is wrong."""

    code = "invalid"
    status = 422


class Unauthorized(HitodeError):
    code = "unauthorized"
    status = 401


class Forbidden(HitodeError):
    code = "forbidden"
    status = 403


class NotFound(HitodeError):
    code = "not_found"
    status = 404


class Conflict(HitodeError):
    code = "conflict"
    status = 409


class PreconditionFailed(HitodeError):
    """If-Match named a version that is no longer the current one: nothing was changed."""

    code = "stale"
    status = 412


class TooLarge(HitodeError):
    code = "too_large"
    status = 413


class UnsupportedMediaType(HitodeError):
    code = "unsupported_media_type"
    status = 415


class ConfigError(HitodeError):
    """A config file or CLI option is wrong; the CLI exits 2 with the message."""

    code = "bad_config"
    status = 500


class StoreError(HitodeError):
    code = "store"
    status = 500


class BusUnavailable(HitodeError):
    code = "bus_unavailable"
    status = 503


class NatsServerError(HitodeError):
    """The embedded nats-server could not be found, started or stopped."""

    code = "nats_server"
    status = 500


class Rejected(HitodeError):
    """A record from the bus failed verification; the reason goes to quarantine."""

    code = "rejected"
    status = 422


_AT: Final = re.compile(r"\s*-\s*at `\$\.?([^`]*)`")


def bad_input_from(e: msgspec.ValidationError, prefix: str = "") -> BadInput:
    """msgspec says "Expected `int` - at `$.capacity`": a message and the field it names;
    a text rule's regex is said in words (schemas/text.py)."""
    m = _AT.search(str(e))
    return BadInput(prefix + explain(_AT.sub("", str(e))), field=(m.group(1) or None) if m else None)
