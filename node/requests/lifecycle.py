"""A request's life at its author's node: posted, offers accepted, closed, expired.

Each step is one unit: the rule makes the next version, and the version goes through the
outbox and into this node's indexes together. `Expiry` is the running part that ends
this space's requests at their deadline by itself, so a request nobody closes does not
stay open at every space.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

from node.errors import Forbidden, NotFound
from node.federation import outbox
from node.federation.identity import Identity
from node.members import rules as members
from node.members import skills
from node.requests import book, rules
from node.requests.offers import known_ids, member_named
from node.store import Store, Tx
from node.supervisor import woken
from schemas.request import AcceptInput, CloseInput, HelpRequest, RequestInput

__all__ = ["post", "accept", "close", "expire_due", "Expiry"]

log = logging.getLogger(__name__)
LONGEST_SLEEP: Final = 3600.0  # seconds; a look now and then even with nothing due
RETRY: Final = 10.0  # after a failed round


async def post(store: Store, ident: Identity, secret: bytes, inp: RequestInput, tz: str) -> dict[str, Any]:
    member, name = "", ""
    if inp.member:
        m = await member_named(store, inp.member)
        member, name = members.federation_id(secret, m["id"]), m["name"] if m["share_name"] else ""
    now = dt.datetime.now(dt.UTC)
    req = rules.create(ident.space, inp, outbox.new_id(), tz=zoneinfo.ZoneInfo(tz), now=now,
                       member=member, display_name=name)
    await store.transact(lambda tx: book.save(tx, ident, req, 1))
    return book.view(req, 1, now)


async def _change(store: Store, ident: Identity, request_id: str,
                  step: Callable[[Tx, HelpRequest, dt.datetime], HelpRequest]) -> dict[str, Any]:
    def unit(tx: Tx) -> tuple[HelpRequest, int]:
        held = book.find_in(tx, request_id)
        if held is None:
            raise NotFound(f"no request {request_id!r}", field="id")
        if held[0].space != ident.space:
            raise Forbidden(f"only {held[0].space} changes its request", field="id")
        new = step(tx, held[0], dt.datetime.now(dt.UTC))
        book.save(tx, ident, new, held[1] + 1)
        return new, held[1] + 1

    req, version = await store.transact(unit)
    return book.view(req, version, dt.datetime.now(dt.UTC))


async def accept(store: Store, ident: Identity, request_id: str, inp: AcceptInput) -> dict[str, Any]:
    return await _change(store, ident, request_id,
                         lambda tx, req, now: rules.accept(req, inp.offers, known_ids(tx, request_id), now))


async def close(store: Store, ident: Identity, request_id: str, inp: CloseInput) -> dict[str, Any]:
    return await _change(store, ident, request_id,
                         lambda tx, req, now: rules.close(req, inp, known_ids(tx, request_id), now))


async def expire_due(store: Store, ident: Identity, now: dt.datetime | None = None) -> int:
    """End this space's requests whose deadline has passed; how many ended."""
    now = now or dt.datetime.now(dt.UTC)
    due = [str(r[0]) for r in await store.all(
        "SELECT id FROM request_rows WHERE space = ? AND status IN ('open', 'matched') AND deadline <= ?",
        (ident.space, now.timestamp()))]

    def unit(tx: Tx) -> int:
        n = 0
        for request_id in due:
            held = book.find_in(tx, request_id)
            new = rules.expire(held[0], now) if held else None
            if held is not None and new is not None:
                book.save(tx, ident, new, held[1] + 1)
                n += 1
        return n

    return await store.transact(unit) if due else 0


class Expiry:
    """The running part: ends this space's requests at their deadlines; folds old members' skills once.

    It sleeps until the nearest deadline of this space's open requests (at most `longest`),
    and a commit that changes a request wakes it to look again, so an idle node polls nothing.
    """

    def __init__(self, store: Store, ident: Identity, longest: float = LONGEST_SLEEP) -> None:
        self._store, self._ident, self._longest = store, ident, longest
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None

    async def __aenter__(self) -> Expiry:
        await self._store.transact(self._index_unindexed_members)
        self._unlisten = self._store.on_commit(book.CHANGED, self._wake.set)
        self._task = asyncio.create_task(self._loop(), name="requests-expiry")
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @staticmethod
    def _index_unindexed_members(tx: Tx) -> None:
        """Members written before the skill index existed get their rows (once)."""
        missing = tx.scalar("SELECT count(*) FROM members WHERE skills != '[]'"
                            " AND id NOT IN (SELECT member_id FROM member_skills)")
        if missing:
            skills.reindex_members(tx, skills.load_in(tx))

    async def _next_in(self) -> float:
        nearest = await self._store.scalar(
            "SELECT min(deadline) FROM request_rows WHERE space = ? AND status IN ('open', 'matched')",
            (self._ident.space,))
        if nearest is None:
            return self._longest
        return min(self._longest, max(0.0, float(nearest) - time.time()) + 0.05)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            wait = self._longest
            try:
                if n := await expire_due(self._store, self._ident):
                    log.info("requests: %d expired at their deadline", n)
                wait = await self._next_in()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("requests: expiring failed")
                wait = RETRY
            await woken(self._wake, wait)
