"""The LAB's records: themes, posts and experiment reports, and the labels of each space's view.

Every one is a `pub` record signed by its author space (`space`), addressed by its id, and
changed only by that space: an edit is a new version, a retraction a new version with
status `retracted` and its text gone, so it reaches every node like any other version.
A `Label` is one space's word about a record (hide, pin, approve); its record id is
`<subject>:<label>`, and undoing it is a new version with `undone` set. The bus types are
tolerant of fields a newer peer adds; the `…Input` and `…Edit` twins are HTTP input and
forbid unknown fields. A post carries a member's display name only where the member chose
to be named; otherwise the space speaks.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from schemas.ids import RecordId, SpaceId
from schemas.text import LINE, LONG, LONG_REQUIRED, NAME, TAG, URL
from schemas.time import DateTime

__all__ = [
    "Theme", "Post", "Report", "Number", "Label", "ThemeInput", "ThemeEdit", "PostInput", "PostEdit",
    "ReportInput", "ReportEdit", "LabelInput", "FollowInput", "ThemeStatus", "PostStatus", "LabelValue",
    "LABEL_VALUES", "MAX_BODY",
]

MAX_BODY: Final = 8000
ThemeStatus = Literal["open", "closed", "retracted"]
PostStatus = Literal["posted", "retracted"]
LabelValue = Literal["hide", "pin", "approve"]
LABEL_VALUES: Final[tuple[str, ...]] = ("hide", "pin", "approve")

# On the bus a retracted record's text is gone, so the wire types allow it empty; the
# kinds' checks (node/lab/rules.py) require it everywhere else.
_Title = Annotated[str, msgspec.Meta(max_length=200, pattern=LINE)]
_Body = Annotated[str, msgspec.Meta(max_length=MAX_BODY, pattern=LONG)]
_Line = Annotated[str, msgspec.Meta(max_length=200, pattern=LINE)]
_Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=TAG)]
_Tags = Annotated[list[_Tag], msgspec.Meta(max_length=20)]
_Link = Annotated[str, msgspec.Meta(min_length=8, max_length=500, pattern=URL)]
_Links = Annotated[list[_Link], msgspec.Meta(max_length=20)]
_EventId = Annotated[str, msgspec.Meta(max_length=128, pattern=r"^[A-Za-z0-9._:-]*$",
                                       description="an event of the calendar (GET /api/events/{id}), or empty")]
_Name = Annotated[str, msgspec.Meta(max_length=120, pattern=LINE)]
# HTTP input: required text is not blank.
TitleInput = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NAME)]
BodyInput = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_BODY, pattern=LONG_REQUIRED)]
_LongInput = Annotated[str, msgspec.Meta(max_length=MAX_BODY, pattern=LONG)]
# A label's record id is `<subject>:<label>`, within a record id's 128 characters.
Subject = Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9._:-]+$",
                                      description="the id of a theme, post or report")]
_MemberId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                                        description="a member of this space (POST /api/members)")]


class Theme(msgspec.Struct, frozen=True, kw_only=True, tag="lab_theme"):
    """Bus record, kind "lab_theme"; record_id = id; only `space` writes it."""

    id: RecordId
    space: SpaceId
    title: _Title
    question: _Body = ""
    tags: _Tags = []
    status: ThemeStatus = "open"
    meeting: _EventId = ""  # the month's online meeting, an event of the calendar
    created_at: DateTime
    updated_at: DateTime


class Post(msgspec.Struct, frozen=True, kw_only=True, tag="lab_post"):
    """Bus record, kind "lab_post": a contribution to a theme's discussion, or a reply to one."""

    id: RecordId
    space: SpaceId
    theme: RecordId
    body: _Body
    author_name: _Name = ""  # a member who chose to be named; empty: the space speaks
    reply_to: Annotated[str, msgspec.Meta(max_length=128, pattern=r"^[A-Za-z0-9._:-]*$")] = ""
    status: PostStatus = "posted"
    created_at: DateTime
    updated_at: DateTime


class Number(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One measured result of an experiment: "visitors", 42, "people"."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NAME)]
    value: Annotated[float, msgspec.Meta(ge=-1e15, le=1e15)]
    unit: Annotated[str, msgspec.Meta(max_length=40, pattern=LINE)] = ""


class Report(msgspec.Struct, frozen=True, kw_only=True, tag="lab_report"):
    """Bus record, kind "lab_report": what a space tried at home for a theme, and how it went."""

    id: RecordId
    space: SpaceId
    theme: RecordId
    title: _Title
    tried: _Body = ""  # what we tried
    where: _Line = ""
    when: _Line = ""  # as the space says it: "2026年11月の毎週金曜"
    cost: _Line = ""
    happened: _Body = ""  # what happened
    numbers: Annotated[list[Number], msgspec.Meta(max_length=30)] = []
    again: _Body = ""  # what we would do again
    links: _Links = []
    status: PostStatus = "posted"
    created_at: DateTime
    updated_at: DateTime


class Label(msgspec.Struct, frozen=True, kw_only=True, tag="lab_label"):
    """Bus record, kind "lab_label": `space`'s word about a record; record_id = subject:label."""

    space: SpaceId
    subject: Subject
    label: LabelValue
    undone: bool = False  # the negation: this space takes the label back
    at: DateTime


class ThemeInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/lab/themes."""

    title: TitleInput
    question: _LongInput = ""
    tags: _Tags = []
    meeting: _EventId = ""


class ThemeEdit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PATCH /api/lab/themes/{id}: only the fields given change."""

    title: TitleInput | msgspec.UnsetType = msgspec.UNSET
    question: _LongInput | msgspec.UnsetType = msgspec.UNSET
    tags: _Tags | msgspec.UnsetType = msgspec.UNSET
    status: Literal["open", "closed"] | msgspec.UnsetType = msgspec.UNSET
    meeting: _EventId | msgspec.UnsetType = msgspec.UNSET


class PostInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/lab/themes/{id}/posts: the space speaks, or a member of it (named only if they chose)."""

    body: BodyInput
    member: _MemberId | None = None
    reply_to: RecordId | None = None


class PostEdit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PATCH /api/lab/posts/{id}."""

    body: BodyInput


class ReportInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/lab/themes/{id}/reports."""

    title: TitleInput
    tried: BodyInput
    where: _Line = ""
    when: _Line = ""
    cost: _Line = ""
    happened: _LongInput = ""
    numbers: Annotated[list[Number], msgspec.Meta(max_length=30)] = []
    again: _LongInput = ""
    links: _Links = []


class ReportEdit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PATCH /api/lab/reports/{id}: only the fields given change."""

    title: TitleInput | msgspec.UnsetType = msgspec.UNSET
    tried: BodyInput | msgspec.UnsetType = msgspec.UNSET
    where: _Line | msgspec.UnsetType = msgspec.UNSET
    when: _Line | msgspec.UnsetType = msgspec.UNSET
    cost: _Line | msgspec.UnsetType = msgspec.UNSET
    happened: _LongInput | msgspec.UnsetType = msgspec.UNSET
    numbers: Annotated[list[Number], msgspec.Meta(max_length=30)] | msgspec.UnsetType = msgspec.UNSET
    again: _LongInput | msgspec.UnsetType = msgspec.UNSET
    links: _Links | msgspec.UnsetType = msgspec.UNSET


class LabelInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/lab/labels: this space labels a theme, post or report (undo: take it back)."""

    subject: Subject
    label: LabelValue
    undo: bool = False


class FollowInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PUT /api/lab/follows/{space}: which of that space's labels this node's view takes (none: unfollow)."""

    labels: Annotated[list[LabelValue], msgspec.Meta(max_length=3)] = msgspec.field(
        default_factory=lambda: ["hide", "pin", "approve"])
