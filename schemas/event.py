"""Event records: what a space holds (Jelly, talks, workshops), joint parts, and RSVPs.

An `Event` is a `pub` record authored by its host space; times are instants (UTC) with the
zone they were announced in. Parts of a joint event (同時開催) are ordinary events that
share a `joint_id`; each keeps its own capacity and attendees. RSVPs travel as sealed
`dm` records: `Rsvp` from the member's space to the host, `RsvpStatus` back.
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Final, Literal

import msgspec

from schemas.ids import RecordId, SpaceId
from schemas.text import LANG, LINE, LONG, NAME, TAG, URL
from schemas.time import DateTime

__all__ = [
    "Place", "PlaceInput", "Event", "EventInput", "EventPatch", "Rsvp", "RsvpStatus", "RsvpInput",
    "EventStatus", "RsvpState",
]

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NAME)]
Text = Annotated[str, msgspec.Meta(max_length=8000, pattern=LONG)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=TAG)]
Line = Annotated[str, msgspec.Meta(max_length=200, pattern=LINE)]
Link = Annotated[str, msgspec.Meta(max_length=500, pattern=URL)]
Zone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="IANA zone, e.g. Asia/Tokyo")]
# On HTTP input the zones this node knows are listed (a peer's record may name a zone of
# a newer tzdata: the bus type stays open, and readers fall back to UTC).
ZONES: Final = sorted(z for z in zoneinfo.available_timezones() if not z.startswith(("posix/", "right/")))
ZoneInput = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="IANA zone, e.g. Asia/Tokyo",
                                        extra_json_schema={"enum": ZONES})]
Lang = Annotated[str, msgspec.Meta(min_length=2, max_length=16, pattern=LANG)]
JointId = Annotated[str, msgspec.Meta(max_length=128, pattern=r"^[A-Za-z0-9._:-]*$")]
Capacity = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=20)]
EventStatus = Literal["scheduled", "updated", "cancelled"]
RsvpState = Literal["requested", "confirmed", "waitlisted", "cancelled", "refused"]


class Place(msgspec.Struct, frozen=True, kw_only=True):
    """Where: in the space (room), online (url), or both. Tolerant: part of a bus record."""

    mode: Literal["onsite", "online", "hybrid"] = "onsite"
    room: Line = ""
    url: Link = ""


class PlaceInput(Place, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The strict twin of Place, for HTTP input."""


class Event(msgspec.Struct, frozen=True, kw_only=True, tag="event"):
    """Bus record, kind "event"; record_id = id; only the host (`space`) writes it."""

    id: RecordId
    space: SpaceId
    title: Title
    description: Text = ""
    start: DateTime
    end: DateTime
    tz: Zone = "Asia/Tokyo"
    place: Place = Place()
    capacity: Capacity | None = None
    tags: Tags = []
    language: Lang = "ja"
    status: EventStatus = "scheduled"
    joint_id: JointId = ""
    confirmed: int = 0
    waitlisted: int = 0
    source_uid: Annotated[str, msgspec.Meta(max_length=1000, pattern=LINE)] = ""


class EventInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/events. A start/end without an offset is read in `tz`."""

    title: Title
    description: Text = ""
    start: DateTime
    end: DateTime
    tz: ZoneInput = "Asia/Tokyo"
    place: PlaceInput = PlaceInput()
    capacity: Capacity | None = None
    tags: Tags = []
    language: Lang = "ja"
    joint_id: JointId = ""
    joint: bool = False  # open a joint event (同時開催): its id becomes the joint id


class EventPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PATCH /api/events/{id}: only the fields given change (null clears capacity)."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType = msgspec.UNSET
    start: DateTime | msgspec.UnsetType = msgspec.UNSET
    end: DateTime | msgspec.UnsetType = msgspec.UNSET
    tz: ZoneInput | msgspec.UnsetType = msgspec.UNSET
    place: PlaceInput | msgspec.UnsetType = msgspec.UNSET
    capacity: Capacity | None | msgspec.UnsetType = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET
    language: Lang | msgspec.UnsetType = msgspec.UNSET


class Rsvp(msgspec.Struct, frozen=True, kw_only=True, tag="rsvp"):
    """dm from the member's space (author) to the host (to); record_id = the RSVP's id.

    `member` is the pseudonymous federation id; `display_name` only if the member agreed.
    """

    author: SpaceId
    to: SpaceId
    record_id: RecordId
    version: Annotated[int, msgspec.Meta(ge=1)]
    event_id: RecordId
    member: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    display_name: Annotated[str, msgspec.Meta(max_length=120, pattern=LINE)] = ""
    status: Literal["requested", "cancelled"] = "requested"


class RsvpStatus(msgspec.Struct, frozen=True, kw_only=True, tag="rsvp_status"):
    """dm from the host (author) back to the member's space; record_id = the RSVP's id."""

    author: SpaceId
    to: SpaceId
    record_id: RecordId
    version: Annotated[int, msgspec.Meta(ge=1)]
    event_id: RecordId
    status: Literal["confirmed", "waitlisted", "cancelled", "refused"]
    reason: Annotated[str, msgspec.Meta(max_length=500, pattern=LINE)] = ""
    # The version of the member's Rsvp this answers (0 from a host that did not say):
    # after a cancel and a new sign-up, an answer to the old one is not shown as current.
    answers: Annotated[int, msgspec.Meta(ge=0)] = 0


class RsvpInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/events/{id}/rsvps: sign up (or cancel) a member of this space."""

    member: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    cancel: bool = False
