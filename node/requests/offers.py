"""Offers and referrals: the answers to a request, sealed to the space that asked.

A member's offer carries only what the member shares: the pseudonymous id, the display
name if the member allows it, and the skills the member marked shared. A referral names
another space; that space gets a `Referral` of its own and sees the request as addressed
to it. Both leave in one unit through the outbox, so an offer sent while the requester is
down arrives when it returns, once (the receiver keys offers by id).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any, Final

import msgspec

from node.errors import Conflict, Invalid, NotFound
from node.federation import outbox
from node.federation.directory import box_key_of
from node.federation.identity import Identity
from node.federation.intake import Rejection
from node.members import rules as members
from node.requests import book
from node.requests.rules import OFFER_KIND, REFERRAL_KIND, takes_offers
from node.store import Store, Tx
from schemas.envelope import Header
from schemas.request import Offer, OfferInput, Referral

__all__ = ["member_named", "send", "on_offer", "on_referral", "received", "sent", "known_ids"]

_offer_dec: Final = msgspec.msgpack.Decoder(Offer)


async def member_named(store: Store, member_id: str) -> dict[str, Any]:
    """A member of this space named in a body: unknown is a broken rule of the body (422)."""
    try:
        return await members.get(store, member_id, field="member")
    except NotFound as e:
        raise Invalid(e.message, field="member") from None


def _keep(tx: Tx, offer: Offer) -> None:
    tx.execute(
        "INSERT OR IGNORE INTO request_offers (offer_id, request_id, space, kind, member, display_name, skills,"
        " message, referred, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (offer.record_id, offer.request_id, offer.author, offer.kind, offer.member, offer.display_name,
         json.dumps(offer.skills, ensure_ascii=False), offer.message, offer.referred, time.time()),
    )
    tx.notify(book.CHANGED)


async def send(store: Store, ident: Identity, secret: bytes, request_id: str, inp: OfferInput) -> dict[str, Any]:
    """Offer a member of this space for a request, or refer the request to another space."""
    req, _ = await book.find(store, request_id)
    if bool(inp.member) == bool(inp.referral):
        raise Invalid("name either a member who offers or a space to refer to", field="member")
    member_fid, name, shared = "", "", list[str]()
    if inp.member:
        m = await member_named(store, inp.member)
        member_fid, name, shared = members.federation_id(secret, m["id"]), m["name"] if m["share_name"] else "", m["shared_skills"]
    elif inp.referral in (ident.space, req.space):
        raise Invalid("a referral names a third space, neither this one nor the one asking", field="referral")
    offer_id = outbox.new_id()

    def unit(tx: Tx) -> Offer:
        held = book.find_in(tx, request_id)
        if held is None or not takes_offers(held[0], dt.datetime.now(dt.UTC)):
            raise Conflict("the request no longer takes offers", field="id")
        offer = Offer(author=ident.space, to=req.space, record_id=offer_id, version=1, request_id=req.id,
                      kind="referral" if inp.referral else "offer", member=member_fid, display_name=name,
                      skills=shared, message=inp.message, referred=inp.referral or None)
        if inp.referral:
            key = box_key_of(tx, inp.referral)
            if key is None:
                raise Invalid(f"space {inp.referral!r} is not in the directory", field="referral")
            referral = Referral(author=ident.space, to=inp.referral, record_id=outbox.new_id(), version=1,
                                request_id=req.id, request_space=req.space, message=inp.message)
            outbox.append(tx, ident, kind=REFERRAL_KIND, record_id=referral.record_id, version=1, body=referral,
                          channel=inp.referral, recipient_box_key=key)
        if req.space == ident.space:
            _keep(tx, offer)  # a member of the asking space itself: nothing to send
            return offer
        key = box_key_of(tx, req.space)
        if key is None:
            raise NotFound(f"space {req.space!r} is not in the directory yet", field="id")
        outbox.append(tx, ident, kind=OFFER_KIND, record_id=offer_id, version=1, body=offer,
                      channel=req.space, recipient_box_key=key)
        tx.notify(book.CHANGED)
        return offer

    offer = await store.transact(unit)
    out: dict[str, Any] = msgspec.to_builtins(offer)
    out.pop("type", None)
    return out


def on_offer(tx: Tx, ident: Identity, header: Header, body: msgspec.Struct, box_key: bytes) -> None:
    """Reactor: an offer for one of this space's requests arrived; keep it (once, by id)."""
    assert isinstance(body, Offer)
    held = book.find_in(tx, body.request_id)
    if held is None or held[0].space != ident.space:
        raise Rejection("bad_body", f"no request {body.request_id} of this space", author=header.author)
    _keep(tx, body)


def on_referral(tx: Tx, ident: Identity, header: Header, body: msgspec.Struct, box_key: bytes) -> None:
    """Reactor: another space referred a request to this one; it is now addressed to us."""
    assert isinstance(body, Referral)
    tx.execute("INSERT OR IGNORE INTO request_referrals (request_id, space, message, received_at) VALUES (?, ?, ?, ?)",
               (body.request_id, header.author, body.message, time.time()))
    tx.notify(book.CHANGED)


async def received(store: Store, request_id: str, accepted: list[str]) -> list[dict[str, Any]]:
    rows = await store.all("SELECT * FROM request_offers WHERE request_id = ? ORDER BY received_at", (request_id,))
    return [{"id": r["offer_id"], "space": r["space"], "kind": r["kind"], "member": r["member"],
             "display_name": r["display_name"], "skills": json.loads(r["skills"]), "message": r["message"],
             "referred": r["referred"], "accepted": r["offer_id"] in accepted} for r in rows]


async def sent(store: Store, me: str, request_id: str, accepted: list[str]) -> list[dict[str, Any]]:
    """Offers this space sent for a request (its own dm records), and whether they were accepted."""
    rows = await store.all("SELECT body FROM records WHERE kind = ? AND author = ? ORDER BY updated_at", (OFFER_KIND, me))
    out = []
    for r in rows:
        o = _offer_dec.decode(r["body"])
        if o.request_id == request_id:
            d = msgspec.to_builtins(o)
            d.pop("type", None)
            d["accepted"] = o.record_id in accepted
            out.append(d)
    return out


def known_ids(tx: Tx, request_id: str) -> set[str]:
    return {str(r[0]) for r in tx.all("SELECT offer_id FROM request_offers WHERE request_id = ?", (request_id,))}
