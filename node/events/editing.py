"""The operator's changes to this space's own events, each one transaction: an edit (with
the version the operator saw, so that an edit made meanwhile is not overwritten) and a
cancel, which also tells every attendee's space. The JSON API and the dashboard's forms
both come here, so the two can never disagree on what an edit does."""

from __future__ import annotations

from node.errors import Forbidden, PreconditionFailed
from node.events import rsvps
from node.events import rules as events
from node.federation.identity import Identity
from node.store import Store, Tx
from schemas.event import Event, EventPatch

__all__ = ["edit", "cancel"]


def _own(ident: Identity, event: Event) -> None:
    if event.space != ident.space:
        raise Forbidden(f"only {event.space} edits its events", field="id")


async def edit(store: Store, ident: Identity, event_id: str, p: EventPatch, *, expect: int | None = None) -> None:
    """Apply `p`; a raised capacity seats the waitlist. `expect`: the version edited."""
    event, _ = await events.find(store, event_id, prefer=ident.space)
    _own(ident, event)

    def unit(tx: Tx) -> None:
        held = events.find_in(tx, ident.space, event.id)
        assert held is not None
        if expect is not None and held[1] != expect:
            raise PreconditionFailed(f"the event is at version {held[1]}, not {expect}: read it again", field="If-Match")
        new = events.patch(held[0], p)
        if new != held[0]:
            events.save(tx, ident, new, held[1] + 1)
            if new.capacity != held[0].capacity:
                rsvps.after_capacity_change(tx, ident, new, held[1] + 1)

    await store.transact(unit)


async def cancel(store: Store, ident: Identity, event_id: str) -> None:
    """Call the event off: every seat and waitlist place is cancelled, and their spaces told."""
    event, _ = await events.find(store, event_id, prefer=ident.space)
    _own(ident, event)

    def unit(tx: Tx) -> None:
        held = events.find_in(tx, ident.space, event.id)
        assert held is not None
        rsvps.cancel_event(tx, ident, held[0], held[1])

    await store.transact(unit)
