"""Coworking Visa: passes a member carries, visits on both books, the monthly settlement.

The member's home space issues a pass (a signed token and its QR code) and keeps a
status list of revoked passes; a host verifies the pass offline, asks the home over rpc
(`visa`), applies its own policy, and books the visit, which goes home as a sealed dm and
comes back acknowledged. Record kinds: `visa_status` and `visa_honoured` (pub), `visit`
and `visit_ack` (dm).
"""

from __future__ import annotations

from pathlib import Path

from node.feature import Feature, Operation
from node.federation.kinds import Kind
from node.visas import books, desk, status
from node.visas.pages import HONOURED, PAGES, PANEL
from node.visas.passes import MIGRATIONS
from node.visas.routes import ROUTES
from schemas.visa import VisaHonoured, VisaStatus, Visit, VisitAck

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="visas",
    requires=("members",),  # passes are for members of this space
    kinds=(
        Kind(name=status.KIND, body=VisaStatus, check=status.check_record,
             summary="a home space's status list: one bit per pass, set when revoked"),
        # unique_id: a visit's id is the host's that booked it first; another host's visit
        # under it is quarantined (id_taken) rather than written over the home's books.
        Kind(name=books.KIND, body=Visit, dm=True, on_apply=books.on_visit, unique_id=True,
             summary="a visit, from the host to the member's home space"),
        Kind(name=books.ACK_KIND, body=VisitAck, dm=True, on_apply=books.on_ack,
             summary="the home's reconciliation of a visit, back to the host"),
        Kind(name=books.HONOURED_KIND, body=VisaHonoured, check=books.check_honoured,
             summary="how many visa visits a space hosted in a month (a count only)"),
    ),
    routes=ROUTES,
    pages=PAGES,
    panels=(PANEL, HONOURED),
    templates=Path(__file__).parent / "templates",
    static=Path(__file__).parent / "static",  # its stylesheet (the QR scanner is the shell's /static/scan.js)
    migrations=MIGRATIONS,
    operations=(Operation(name=desk.OP, handler=desk.answer_check,
                          summary="a host asks the home about a pass: standing and visa days this month"),
                Operation(name=desk.BOOKS_OP, handler=desk.answer_books,
                          summary="a partner asks for our side of a month's visits with it, to compare books")),
)
