"""The dashboard's Invitations page (招待): the hub's operator invites a new space to join
the federation without the command line, and sees what became of each invitation.

Making one calls the same function as `POST /api/invitations` (node/ops/inviting.py), with a
validity chosen among a few (a day, a week, a month) that the API's rule also accepts. The
line, its QR code and plain-words instructions for the invited operator are shown in the
answer to that form only: the node keeps a hash of the secret, so it can never show the
line again. An unused, unexpired invitation can be revoked, after a page that says what
that does. A space that cannot invite (not a hub with a join address and the CA) gets the
page too, explaining who makes invitations, with no form.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Final

import msgspec
from aiohttp import web
from markupsafe import Markup

from node.context import Context
from node.errors import Conflict, HitodeError
from node.ops.inviting import DAY, InvitationInput, Made, find, hub_ca, invite, listing, revoke
from node.web.i18n import N_, Translator
from node.web.page import Page, PageResult
from node.web.qr import render
from node.web.shell import translator

__all__ = ["PAGES", "VALIDITY"]

# days valid → its label; the API takes any number of seconds up to 30 days
VALIDITY: Final = {"1": N_("1 day"), "7": N_("7 days"), "30": N_("30 days")}
_DEFAULT: Final = "7"
_QR_VERSION: Final = 30  # the line carries the CA's certificate: a large code, shown big on a screen
_REFUSED: Final = {
    "not_found": N_("There is no such invitation."),
    "conflict": N_("This invitation was used or revoked already: it cannot be revoked."),
    "expired": N_("This invitation has expired already: nobody can use it any more."),
}


def _stamp(t: Translator, at: float) -> tuple[str, str]:
    moment = dt.datetime.fromtimestamp(at, dt.UTC)
    return t.datetime(moment, "short"), moment.isoformat()


def _row(m: Made, t: Translator, now: float) -> dict[str, Any]:
    state = m.state(now)
    if state == "used" and m.used_at is not None:
        words = t.gettext("Used by %(space)s on %(when)s") % {"space": m.used_by, "when": _stamp(t, m.used_at)[0]}
    elif state == "revoked" and m.revoked_at is not None:
        words = t.gettext("Revoked on %(when)s") % {"when": _stamp(t, m.revoked_at)[0]}
    elif state == "expired":
        words = t.gettext("Expired without being used")
    else:
        words = t.gettext("Not used yet")
    return {"id": m.id, "created": _stamp(t, m.created_at), "expires": _stamp(t, m.expires_at), "state": state,
            "words": words}


async def _page(node: Context, t: Translator, **kw: Any) -> dict[str, Any]:
    try:
        hub_ca(node.data_dir)
    except HitodeError as e:
        why = e.message
    else:
        why = ""
    now = time.time()
    made = [_row(m, t, now) for m in await listing(node.store)]
    return {"can_invite": not why, "why": why, "invitations": made, "validity": VALIDITY, "errors": {},
            "days": _DEFAULT, "made": None, "revoked": "", **kw}


async def invitations(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    return await _page(node, t, revoked=request.query.get("revoked", ""))


async def make(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    days = str((await request.post()).get("days", ""))
    try:
        if days not in VALIDITY:
            raise ValueError(days)
        inp = msgspec.convert({"expires_in": int(days) * DAY}, InvitationInput)
    except (ValueError, msgspec.ValidationError):
        return await _page(node, t, days=days, errors={"days": t.gettext("Choose how long the invitation is valid.")})
    try:
        inv, line = await invite(node, inp)
    except Conflict:  # no longer a hub that may invite (server.toml changed meanwhile)
        return await _page(node, t, days=days, errors={"days": t.gettext(
            "This space cannot make invitations: it is not the hub that admits new spaces.")})
    qr = render(line, scale=3, max_version=_QR_VERSION, fit=True)
    shown = {"id": inv.id, "line": line, "qr": Markup(qr.svg), "expires": _stamp(t, inv.expires)}
    return await _page(node, t, days=days, made=shown)


async def _open(node: Context, request: web.Request) -> dict[str, Any]:
    """The invitation of the URL, as listed; one that can no longer be revoked: to the list."""
    t = translator(request)
    now = time.time()
    found = await find(node.store, request.match_info["id"])
    if found is None or found.state(now) != "open":
        raise web.HTTPSeeOther("/invitations")
    return _row(found, t, now)


async def revoke_form(node: Context, request: web.Request) -> PageResult:
    return {"invitation": await _open(node, request), "errors": {}}


async def revoke_it(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    shown = await _open(node, request)
    try:
        await revoke(node.store, shown["id"])
    except HitodeError as e:
        words = _REFUSED.get(e.code)
        return {"invitation": shown, "errors": {"revoke": t.gettext(words) if words else e.message}}
    raise web.HTTPSeeOther(f"/invitations?revoked={shown['id']}")


PAGES: Final = (
    Page(path="/invitations", handler=invitations, template="ops/invitations.html", nav=N_("Invitations"), order=65),
    Page(path="/invitations", method="POST", handler=make, template="ops/invitations.html"),
    Page(path="/invitations/{id}/revoke", handler=revoke_form, template="ops/invitation_revoke.html"),
    Page(path="/invitations/{id}/revoke", method="POST", handler=revoke_it, template="ops/invitation_revoke.html"),
)
