"""Events: the federated calendar, joint events, RSVPs decided by the host, .ics in and out.

Record kinds: `event` (pub, addressed by its id alone), `rsvp` (dm from the member's space
to the host, decided when applied), `rsvp_status` (dm, the host's answer).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

from node.context import Context
from node.events import attendance, calendar_page, event_form, event_page, feeds_page, rsvps
from node.events.importer import Importer
from node.events.pages import PAGES
from node.events.routes import ROUTES
from node.events.rules import KIND, MIGRATIONS, check_record
from node.events.waiting import PANEL
from node.feature import Feature
from node.federation.kinds import Kind
from schemas.event import Event, Rsvp, RsvpStatus

__all__ = ["FEATURE"]


def _importer(ctx: Context) -> AbstractAsyncContextManager[object]:
    return Importer(ctx.store, ctx.ident, interval=ctx.config.tuning.feed_interval)


FEATURE = Feature(
    name="events",
    requires=("members",),  # an RSVP is for a member of this space
    kinds=(
        Kind(name=KIND, body=Event, check=check_record, unique_id=True, summary="an event of its author's space"),
        Kind(name=rsvps.KIND, body=Rsvp, dm=True, on_apply=rsvps.on_rsvp,
             summary="a member's sign-up (or cancel), to the host"),
        Kind(name=rsvps.STATUS_KIND, body=RsvpStatus, dm=True, summary="the host's answer to an RSVP"),
    ),
    routes=ROUTES,
    pages=(*PAGES, *calendar_page.PAGES, *event_page.PAGES, *event_form.PAGES, *feeds_page.PAGES),
    panels=(PANEL, attendance.PANEL),
    templates=Path(__file__).parent / "templates",
    migrations=MIGRATIONS,
    parts=(_importer,),
)
