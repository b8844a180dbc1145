"""Requests: the domain rules, plain functions over the records (no bus, no HTTP).

A request is posted open with a deadline ahead; only its author changes it: accepting
offers makes it `matched`, closing makes it `closed` or `withdrawn`, and its deadline
passing makes it `expired`. An offer goes only to a request that still takes answers.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import msgspec

from node.errors import Conflict, Invalid
from node.federation.intake import Rejection
from schemas.envelope import Header
from schemas.request import CloseInput, HelpRequest, RequestInput

__all__ = ["KIND", "OFFER_KIND", "REFERRAL_KIND", "OPEN", "create", "accept", "close", "expire", "takes_offers",
           "check_record", "FUTURE_LIMIT"]

KIND: Final = "request"
OFFER_KIND: Final = "offer"
REFERRAL_KIND: Final = "referral"
OPEN: Final = ("open", "matched")  # still taking offers
FUTURE_LIMIT: Final = dt.timedelta(days=2 * 366)


def create(space: str, inp: RequestInput, request_id: str, *, tz: dt.tzinfo, now: dt.datetime,
           member: str = "", display_name: str = "") -> HelpRequest:
    deadline = inp.deadline if inp.deadline.tzinfo else inp.deadline.replace(tzinfo=tz)
    deadline = deadline.astimezone(dt.UTC)
    if deadline <= now:
        raise Invalid("the deadline must be in the future", field="deadline")
    if deadline > now + FUTURE_LIMIT:
        raise Invalid("the deadline must be within two years", field="deadline")
    return HelpRequest(
        id=request_id, space=space, kind=inp.kind, title=inp.title.strip(), body=inp.body,
        skills=inp.skills, region=inp.region, online_ok=inp.online_ok, deadline=deadline,
        reward=inp.reward, member=member, display_name=display_name, created_at=now,
    )


def takes_offers(req: HelpRequest, now: dt.datetime) -> bool:
    return req.status in OPEN and req.deadline > now


def _check_open(req: HelpRequest, now: dt.datetime, field: str) -> None:
    if req.status not in OPEN:
        raise Conflict(f"the request is {req.status}", field=field)
    if req.deadline <= now:
        raise Conflict("the request's deadline has passed", field=field)


def accept(req: HelpRequest, offers: list[str], known: set[str], now: dt.datetime) -> HelpRequest:
    """Accept offers this space received for the request: it is `matched` (still open)."""
    _check_open(req, now, "id")
    unknown = [o for o in offers if o not in known]
    if unknown:
        raise Invalid(f"no such offer for this request: {', '.join(unknown)}", field="offers")
    merged = [*req.accepted, *(o for o in offers if o not in req.accepted)]
    return msgspec.structs.replace(req, status="matched", accepted=merged)


def close(req: HelpRequest, inp: CloseInput, known: set[str], now: dt.datetime) -> HelpRequest:
    if req.status not in OPEN:
        raise Conflict(f"the request is already {req.status}", field="id")
    if inp.accept:
        req = accept(req, inp.accept, known, now) if req.deadline > now else req
    return msgspec.structs.replace(req, status=inp.status)


def expire(req: HelpRequest, now: dt.datetime) -> HelpRequest | None:
    """The request as its deadline leaves it: expired if it was still open, else unchanged."""
    if req.status in OPEN and req.deadline <= now:
        return msgspec.structs.replace(req, status="expired")
    return None


def check_record(h: Header, body: msgspec.Struct, signer: bytes) -> None:
    """A request from a peer: posted by its author under its own id."""
    assert isinstance(body, HelpRequest)
    if body.space != h.author or body.id != h.record_id:
        raise Rejection("header_mismatch", "a request must be posted by its author, under its own id", author=h.author)
