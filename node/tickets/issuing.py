"""Issuing a ticket: sign it, keep it in this space's book, and give it back printable
(its text, and a QR code as SVG for the page and PNG for a printer or a phone)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from node.context import Context
from node.tickets import book
from node.tickets.ticket import issue
from node.web.qr import render
from schemas.ticket import TicketInput

__all__ = ["issue_ticket", "printable"]


def printable(text: str) -> dict[str, Any]:
    qr = render(text)
    return {"version": qr.version, "svg": qr.svg, "png": base64.b64encode(qr.png).decode()}


async def issue_ticket(ctx: Context, inp: TicketInput) -> dict[str, Any]:
    ticket, text = issue(ctx.ident, valid_days=inp.valid_days, now=dt.datetime.now(dt.UTC))
    qr = printable(text)  # before saving: a ticket that makes no QR code is not issued
    await ctx.store.transact(lambda tx: book.save_issued(tx, ticket, text, inp.note))
    return {"id": ticket.id, "issuer": ticket.issuer, "issued_at": ticket.issued_at.isoformat(),
            "expires_at": ticket.expires_at.isoformat(), "note": inp.note, "text": text, "qr": qr}
