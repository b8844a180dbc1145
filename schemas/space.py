"""The space record: a coworking space's public profile in the federation directory.

It also carries the space's two public keys (Ed25519 for signatures, X25519 for sealed
direct records), so a receiver learns them from a record the space itself signed.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from schemas.ids import SpaceId
from schemas.text import Lang, Line, LongText, Name, Url

__all__ = ["SpaceProfile", "VisaPolicy", "VisaPolicyInput", "ProfileEdit", "ProfilePut", "KeyRotation",
           "Latitude", "Longitude", "LOCATION"]

# Where the space is, in degrees (WGS 84), for the federation's map: optional, and only
# ever the two together (a dot needs both). Rounded to what a map needs is the operator's
# choice: the space's street address is public anyway.
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90, description="degrees north (WGS 84), -90 to 90")]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180, description="degrees east (WGS 84), -180 to 180")]
LOCATION = ("latitude", "longitude")


class VisaPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Whom the space accepts on a Coworking Visa, and how many free days a month.

    Part of a bus record, so unknown fields are tolerated (VisaPolicyInput is the strict
    twin for HTTP input).
    """

    accepts_visas: bool = True
    accepts_from: Annotated[list[SpaceId], msgspec.Meta(max_length=200)] = []
    free_days_per_month: Annotated[int, msgspec.Meta(ge=0, le=31)] = 2


class VisaPolicyInput(VisaPolicy, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class SpaceProfile(msgspec.Struct, frozen=True, kw_only=True, tag="space"):
    """Bus record, kind "space". Unknown fields are tolerated (a newer peer may add some)."""

    id: SpaceId
    name: Name
    name_ja: Line = ""
    city: Line = ""
    address: Line = ""
    url: Url = ""
    hours: Line = ""
    amenities: Annotated[list[Line], msgspec.Meta(max_length=50)] = []
    house_rules: LongText = ""
    languages: Annotated[list[Lang], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=lambda: ["ja"]
    )
    visa_policy: VisaPolicy = VisaPolicy()
    latitude: Latitude | None = None  # added later: older peers leave it out, and drop it
    longitude: Longitude | None = None
    sign_key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    box_key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class ProfileEdit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """HTTP input for PATCH /api/space: the fields an operator may change; all optional.

    A field left out (or null) keeps its value; latitude and longitude, which may be
    cleared, keep it only when left out, and null clears them (so the `null` that GET
    shows for "not on the map" is sent back unchanged by PUT)."""

    name: Name | None = None
    name_ja: Line | None = None
    city: Line | None = None
    address: Line | None = None
    url: Url | None = None
    hours: Line | None = None
    amenities: Annotated[list[Line], msgspec.Meta(max_length=50)] | None = None
    house_rules: LongText | None = None
    languages: Annotated[list[Lang], msgspec.Meta(max_length=20)] | None = None
    visa_policy: VisaPolicyInput | None = None
    latitude: Latitude | None | msgspec.UnsetType = msgspec.UNSET
    longitude: Longitude | None | msgspec.UnsetType = msgspec.UNSET


# A public key as GET shows it: 32 bytes in base64.
Key32 = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9+/]{43}=$", description="32 bytes, base64")]


class ProfilePut(ProfileEdit, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """HTTP input for PUT /api/space: the representation GET /api/spaces/{id} returns,
    edited. The read-only fields may come back as they were and are refused, by name, if
    changed; `version` (or If-Match) says which version the edit is based on. A field left
    out keeps its value (so clients of the earlier, merging PUT keep working)."""

    id: SpaceId | None = None
    sign_key: Key32 | None = None
    box_key: Key32 | None = None
    version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    online: bool | None = None


class KeyRotation(msgspec.Struct, frozen=True, kw_only=True, tag="rotation"):
    """Bus record, kind "rotation": signed by the space's current key, naming the next.

    Receivers move their pin to `sign_key` when they apply it in chain order; every later
    record of the space is signed by the new key. record_id = the space id.
    """

    space: SpaceId
    sign_key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    box_key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    # Per channel ("pub", or a recipient's id), the last seq the old key signed: records
    # up to there stay valid under it when they arrive after the rotation (a dm chain is
    # ordered apart from the pub chain that carries this record). Empty from older peers.
    heads: Annotated[dict[str, Annotated[int, msgspec.Meta(ge=0)]], msgspec.Meta(max_length=100_000)] = {}
