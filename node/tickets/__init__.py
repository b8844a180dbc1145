"""Common tickets (共通チケット): a free first day, issued by one space and redeemed once at
any space of the federation, even with its issuer offline (DESIGN §5).

The ticket is a signed token checked offline (ticket.py); its single use rests on stream
TICKETS (stream.py), which keeps the first redemption on the ticket's subject and refuses
any other (ledger.py); the desk redeems (redeem.py), the settler settles what the cluster
could not answer at once (settler.py), the book keeps it all in SQLite (book.py). Record
kind `ticket_redemption` (pub): every attempt and its outcome, for audit.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

from node.context import Context
from node.feature import Feature
from node.federation.kinds import Kind
from node.tickets import book, stream
from node.tickets.pages import PAGES
from node.tickets.routes import ROUTES
from node.tickets.settler import Settler
from schemas.ticket import TicketRedemption

__all__ = ["FEATURE"]


def _settler(ctx: Context) -> AbstractAsyncContextManager[object]:
    return Settler(ctx)


FEATURE = Feature(
    name="tickets",
    kinds=(Kind(name=book.KIND, body=TicketRedemption, on_apply=book.on_audit,
                summary="a common ticket's redemption attempt and its outcome, for audit"),),
    routes=ROUTES,
    pages=PAGES,
    templates=Path(__file__).parent / "templates",
    migrations=book.MIGRATIONS,
    parts=(_settler,),
    streams=(stream.stream_config,),
)
