"""Requests for mutual help: a request reaches every space, each matches its own members.

Record kinds: `request` (pub, addressed by its id alone), `offer` (dm to the requesting
space: a member's offer or a referral), `referral` (dm to the space a referral names).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

from node.context import Context
from node.feature import Feature
from node.federation.kinds import Kind
from node.requests import book, offers
from node.requests.lifecycle import Expiry
from node.requests.pages import PAGES
from node.requests.panel import PANEL
from node.requests.skills_page import PAGES as SKILL_PAGES
from node.requests.routes import ROUTES
from node.requests.rules import KIND, OFFER_KIND, REFERRAL_KIND, check_record
from schemas.request import HelpRequest, Offer, Referral

__all__ = ["FEATURE"]


def _expiry(ctx: Context) -> AbstractAsyncContextManager[object]:
    return Expiry(ctx.store, ctx.ident)


FEATURE = Feature(
    name="requests",
    requires=("members",),  # matching reads this space's members and their skills
    kinds=(
        Kind(name=KIND, body=HelpRequest, check=check_record, on_apply=book.on_request, unique_id=True,
             summary="a request for help, posted by its author space"),
        Kind(name=OFFER_KIND, body=Offer, dm=True, on_apply=offers.on_offer,
             summary="an offer or a referral, to the requesting space"),
        Kind(name=REFERRAL_KIND, body=Referral, dm=True, on_apply=offers.on_referral,
             summary="a request referred to the space it names"),
    ),
    routes=ROUTES,
    pages=(*PAGES, *SKILL_PAGES),
    panels=(PANEL,),
    templates=Path(__file__).parent / "templates",
    migrations=book.MIGRATIONS,
    parts=(_expiry,),
)
