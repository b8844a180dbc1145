"""The dashboard's tickets pages: issue a ticket and print it (its QR code and text), the
tickets this space issued with what became of each, redeem one by pasting its text, the
redemptions attempted here, and what to do when the federation cannot confirm a ticket.
Every state is said in plain words, in the operator's language."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, Final

import msgspec
from aiohttp import web

from node.context import Context
from node.errors import HitodeError, NotFound
from node.tickets import book
from node.tickets.issuing import issue_ticket, printable
from node.tickets.redeem import redeem
from node.tickets.settler import Settler
from node.web.i18n import N_, Translator
from node.web.page import Page, PageResult
from node.web.payload import clean
from node.web.shell import translator
from schemas.ticket import TicketInput

__all__ = ["PAGES"]

# Why a pasted text is refused, by the error's code: what the operator can tell the guest.
REFUSALS: Final = {
    "ticket_malformed": N_("This is not a ticket's text. Paste the whole text printed under the QR code."),
    "token_tampered": N_("This ticket has been altered: its signature does not match. Do not accept it."),
    "token_foreign": N_("This ticket was not signed by the space it names. Do not accept it."),
    "token_expired": N_("This ticket has expired."),
    "ticket_unknown_issuer": N_("This ticket comes from a space this node does not know yet."),
    "tickets_unsafe": N_("Tickets cannot be redeemed safely right now: the federation's ticket ledger is not set up "
                         "for single use. Ask the federation's administrator."),
}
ISSUED_WORDS: Final = {
    "pending": N_("Being redeemed: waiting for the federation to confirm"),
    "expired": N_("Expired, never used"),
    "unused": N_("Not used yet"),
}
ISSUE_ERRORS: Final = {
    "valid_days": N_("A whole number of days from 1 to 366."),
    "note": N_("One line of at most 200 characters, without control characters."),
}


def _when(t: Translator, iso: str | None) -> str:
    return t.datetime(dt.datetime.fromisoformat(iso), "short") if iso else ""


def ticket_words(t: Translator, item: dict[str, Any], me: str) -> str:
    """An issued ticket's state, as a sentence."""
    if item["state"] == "redeemed":
        return t.gettext("Redeemed at %(space)s on %(when)s") % {
            "space": item["redeemed_by"], "when": _when(t, item["redeemed_at"])}
    return t.gettext(ISSUED_WORDS[item["state"]])


def attempt_words(t: Translator, a: dict[str, Any]) -> str:
    """A redemption attempt's outcome, as a sentence."""
    if a["state"] == "redeemed":
        if not a["admitted"]:
            return t.gettext("Used by this attempt after all, although the guest was refused at the time")
        return t.gettext("Redeemed here. Welcome the guest!")
    if a["state"] == "taken":
        where = {"space": a["redeemed_by"] or "?", "when": _when(t, a["redeemed_at"])}
        if a["admitted"]:
            return t.gettext("The guest was let in while unconfirmed, but the ticket had already been redeemed at "
                             "%(space)s on %(when)s") % where
        return t.gettext("Already redeemed at %(space)s on %(when)s. It cannot be used again.") % where
    if a["state"] == "pending":
        if a["admitted"]:
            return t.gettext("Let in while unconfirmed: the federation could not be reached. It will be checked "
                             "as soon as it can be.")
        return t.gettext("Refused for now: the federation could not be reached to confirm the ticket.")
    return t.gettext("Not used: the guest was refused, and the ticket is still valid.")


async def _variables(node: Context, request: web.Request, **extra: Any) -> dict[str, Any]:
    t = translator(request)
    issued = await book.issued(node.store, node.space, dt.datetime.now(dt.UTC))
    for item in issued:
        item["words"] = ticket_words(t, item, node.space)
        item["expires"] = _when(t, item["expires_at"])
    tried = await book.attempts(node.store)
    for a in tried:
        a["words"] = attempt_words(t, a)
        a["when"] = _when(t, a["at"])
    out: dict[str, Any] = {"issued": issued, "attempts": tried, "policy": await book.policy(node.store),
                           "errors": {}, "values": {"valid_days": "90", "note": "", "ticket": ""},
                           "result": None, "saved": "saved" in request.query}
    out.update(extra)
    return out


async def tickets(node: Context, request: web.Request) -> PageResult:
    return await _variables(node, request)


async def issue(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    form = await request.post()
    values = {"valid_days": str(form.get("valid_days", "")).strip(), "note": str(form.get("note", ""))}
    try:
        inp = msgspec.convert(clean({"valid_days": int(values["valid_days"]), "note": values["note"]}), TicketInput)
    except (ValueError, msgspec.ValidationError) as e:
        field = "note" if "note" in str(e) else "valid_days"
        return await _variables(node, request, errors={field: t.gettext(ISSUE_ERRORS[field])},
                                values={**values, "ticket": ""})
    made = await issue_ticket(node, inp)
    raise web.HTTPSeeOther(f"/tickets/{made['id']}")


async def redeem_page(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    text = str((await request.post()).get("ticket", ""))
    values = {"valid_days": "90", "note": "", "ticket": text}
    settler = node.part(Settler)
    try:
        out = await redeem(node, settler.ledger, text, unsafe=await settler.safety())
    except HitodeError as e:
        words = REFUSALS.get(e.code, REFUSALS["ticket_malformed"])
        return await _variables(node, request, errors={"ticket": t.gettext(words)}, values=values)
    result = {"state": out["state"], "admitted": out["admitted"], "words": attempt_words(t, out),
              "good": out["state"] == "redeemed" or (out["state"] == "pending" and out["admitted"])}
    return await _variables(node, request, result=result, values={**values, "ticket": ""})


async def set_policy(node: Context, request: web.Request) -> PageResult:
    choice = str((await request.post()).get("when_unconfirmed", ""))
    if choice in ("admit", "refuse"):
        await node.store.transact(lambda tx: book.set_policy(tx, "admit" if choice == "admit" else "refuse"))
    raise web.HTTPSeeOther("/tickets?saved=1")


async def _issued_one(node: Context, tid: str) -> dict[str, Any]:
    found = [i for i in await book.issued(node.store, node.space, dt.datetime.now(dt.UTC)) if i["id"] == tid]
    if not found:
        raise NotFound(f"no ticket {tid} was issued here", field="id")
    return found[0]


async def qr_png(node: Context, request: web.Request) -> PageResult:
    """The QR code as a PNG file, for a print shop or a phone's photo album."""
    item = await _issued_one(node, request.match_info["id"])
    png = base64.b64decode(printable(item["text"])["png"])
    return web.Response(body=png, content_type="image/png", headers={
        "Content-Disposition": f'attachment; filename="ticket-{item["id"]}.png"', "Cache-Control": "no-store"})


async def print_view(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    item = await _issued_one(node, request.match_info["id"])
    return {"ticket": item, "qr_svg": printable(item["text"])["svg"], "expires": _when(t, item["expires_at"]),
            "issued": _when(t, item["issued_at"]), "words": ticket_words(t, item, node.space)}


_TICKETS: Final = "tickets/tickets.html"
PAGES: Final = (
    Page(path="/tickets", handler=tickets, template=_TICKETS, nav=N_("Tickets"), order=40),
    Page(path="/tickets", method="POST", handler=issue, template=_TICKETS),
    Page(path="/tickets/redeem", method="POST", handler=redeem_page, template=_TICKETS),
    Page(path="/tickets/policy", method="POST", handler=set_policy, template=_TICKETS),
    Page(path="/tickets/{id:[0-9a-f-]{36}}", handler=print_view, template="tickets/print.html"),
    Page(path="/tickets/{id:[0-9a-f-]{36}}/qr.png", handler=qr_png, template="tickets/print.html"),
)
