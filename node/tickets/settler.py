"""The running part of the tickets feature: it checks stream TICKETS when the bus is up,
and settles pending attempts by reading back once the cluster answers again, with backoff.

A pending attempt whose holder was admitted is claimed again (the same signed message and
msg-id, so it can only ever be one redemption): it becomes redeemed, or, if another space
was first while this one was cut off, taken, which is flagged as an alert (the holder was
admitted on a ticket someone else used). One whose holder was refused is never sent
again: the stream's leader says whether anything is stored for the ticket; nothing, once
the request can no longer land late, means void (the ticket is still free), something is
read back (it may be this attempt, whose
first send did land after all).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Final

import nats.errors
import nats.js.errors

from node.context import Context
from node.federation.quarantine import alert
from node.store import Tx
from node.supervisor import forever, woken
from node.tickets import book
from node.tickets.ledger import Claim, Ledger, Unreachable
from node.tickets.redeem import outcome_of, vouch
from node.tickets.stream import STREAM, problems, stream_config

__all__ = ["Settler"]

log = logging.getLogger(__name__)

FIRST_DELAY: Final = 1.0
MAX_DELAY: Final = 60.0
MAKE_AGAIN_AFTER: Final = 300.0  # a TICKETS stream this node could not make is not tried again sooner
RETRY_AFTER: Final = 10.0  # stream TICKETS that could not be read is not asked again before a redemption sooner
ORPHAN_AFTER: Final = 60.0  # an attempt begun this long ago and never decided: its node died mid-claim


def _nothing() -> None:
    pass


class Settler:
    def __init__(self, ctx: Context, *, timeout: float = 3.0) -> None:
        self._ctx = ctx
        self.ledger = Ledger(ctx.bus, timeout=timeout)
        self.unsafe = ""  # what stream TICKETS lacks for single use, if anything
        self._seen = ""  # when stream TICKETS was created, as this node first saw it
        self._retry_at = 0.0
        self._make_after = 0.0  # stream TICKETS could not be made: not tried again before this
        self._duplicate_window = float(stream_config(1).duplicate_window or 0)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stop_listening: Callable[[], None] = _nothing

    async def __aenter__(self) -> Settler:
        self._stop_listening = self._ctx.store.on_commit(book.TOPIC, self._wake.set)
        self._task = asyncio.create_task(forever("tickets settler", self._run), name="tickets-settler")
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._stop_listening()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def check_stream(self) -> bool:
        """Whether stream TICKETS answered (a stream not made yet did); `unsafe` says what it lacks."""
        try:
            try:
                info = await self._ctx.bus.jsm.stream_info(STREAM)
            except nats.js.errors.NotFoundError:
                # Not made yet (the bus makes the features' streams just after it is
                # ready), or deleted: made now where this node may, and read again, so that
                # the stream a claim lands on is the one whose creation is recorded below.
                # Where it may not (a hub's admin makes it), the attempt waits for a refusal
                # that never comes: tried again only after a while, not at every desk.
                if time.monotonic() < self._make_after:
                    raise
                await self._ctx.bus.ensure_stream()
                try:
                    info = await self._ctx.bus.jsm.stream_info(STREAM)
                except nats.js.errors.NotFoundError:
                    self._make_after = time.monotonic() + MAKE_AGAIN_AFTER
                    raise
        except nats.js.errors.NotFoundError:
            log.info("tickets: stream %s is not there yet", STREAM)
            return True
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError) as e:
            log.info("tickets: cannot read stream %s yet (%s)", STREAM, e)
            return False
        wrong = problems(info.config, self._ctx.bus.settings.stream_replicas)
        self._duplicate_window = float(info.config.duplicate_window or self._duplicate_window)
        created = info.created.isoformat() if info.created else ""
        if created and created != self._seen:
            self._seen = await self._ctx.store.transact(partial(book.stream_seen, created=created))
        if created and self._seen != created:
            wrong.append(f"was re-created ({created}; this node first saw it created {self._seen}), so the "
                         "redemptions it held are gone")
            await self._ctx.store.transact(partial(self._recreated, first=self._seen, created=created))
        self.unsafe = "; ".join(wrong)
        if wrong:
            log.error("tickets: stream %s is not made for single use (%s): redemptions are refused", STREAM,
                      self.unsafe)
        return True

    def _recreated(self, tx: Tx, first: str, created: str) -> None:
        alert(tx, self._ctx.metrics, "tickets_stream_recreated", self._ctx.space,
              f"stream {STREAM} was deleted and made again (this node first saw it created {first}, now {created}): "
              "the redemptions it held are gone, so a used ticket could be redeemed again. This space refuses to "
              "redeem tickets until the stream is restored from its backup or the federation agrees to start anew")

    async def safety(self) -> str:
        """What stream TICKETS lacks for single use ("" if nothing), checked again before each
        redemption while the bus is up (the stream may have been deleted and made again
        meanwhile; tickets this space knows used stay refused regardless, book.known_used); a stream that cannot be read is no reason to refuse (a claim on it
        cannot succeed either: it is pending, and the policy decides)."""
        if self._ctx.bus.ready and time.monotonic() >= self._retry_at:
            # asked every time while it answers; not again for a while once it did not (a
            # cluster that cannot answer would make every desk wait)
            self._retry_at = 0.0 if await self.check_stream() else time.monotonic() + RETRY_AFTER
        return self.unsafe

    async def _run(self) -> None:
        delay = FIRST_DELAY
        while True:
            await self._ctx.bus.wait_ready()
            await self.safety()
            left = await self.settle_all()
            self._wake.clear()
            # pending ones are tried again with backoff; otherwise sleep until woken
            await woken(self._wake, delay if left else MAX_DELAY)
            delay = min(delay * 2, MAX_DELAY) if left else FIRST_DELAY

    async def settle_all(self) -> int:
        """Try every pending attempt once; how many are still pending."""
        left = 0
        for attempt, ticket, record, admitted, at in await book.pending(self._ctx.store,
                                                                        begun_before=time.time() - ORPHAN_AFTER):
            o = await self._settle(attempt, ticket, record, admitted, at)
            if o is None or o.state == "pending":
                left += 1
            if o is None:
                continue
            await self._ctx.store.transact(partial(self._record, attempt=attempt, o=o, admitted=admitted))
        return left

    def _record(self, tx: Tx, attempt: str, o: book.Outcome, admitted: bool) -> None:
        book.own_late(tx, self._ctx.ident, o)
        if book.settle(tx, self._ctx.ident, attempt, o) and o.state == "taken" and admitted:
            alert(tx, self._ctx.metrics, "ticket_used_twice", o.winner_space or "?",
                  f"a ticket holder admitted here while the federation was unreachable (attempt {attempt}) held a "
                  f"ticket already redeemed at {o.winner_space or 'another space'}")

    def _may_void(self, at: float) -> bool:
        """Whether a refused attempt found nowhere on the stream can no longer land there: its
        request may sit in the client's buffer while the bus reconnects and be sent later, so
        only once it is older than the stream's duplicate window and the publish timeout, and
        the bus has been up for a publish timeout (what was buffered has gone out and landed)."""
        bus = self._ctx.bus
        wait = self.ledger.timeout
        return bus.ready and time.time() > max(at + self._duplicate_window + wait, bus.ready_since + wait)

    async def _settle(self, attempt: str, ticket: str, record: bytes, admitted: bool,
                      at: float) -> book.Outcome | None:
        me = self._ctx.space
        if admitted:
            claim = await self.ledger.claim(ticket, attempt, record)
            o = await vouch(self._ctx, claim, outcome_of(claim, "admit", me, attempt))
            o.admitted = True  # the guest was let in at the time, whatever the ticket turns out to be
            return o
        try:
            if not await self.ledger.held(ticket):
                if not self._may_void(at):
                    return None
                return book.Outcome("void", False, why="never stored: the ticket is still unused")
            winner = await self.ledger.read_back(ticket, expect=True)
        except Unreachable:
            return None
        if winner is None:
            return None
        won = winner.redemption
        if won is not None and won.attempt == attempt:
            return book.Outcome("redeemed", False, winner_space=me, winner_attempt=attempt, winner_at=won.at,
                                why="stored after all, though the holder was refused at the time")
        claim = Claim(outcome="taken", winner=winner)
        return await vouch(self._ctx, claim, outcome_of(claim, "refuse", me, attempt))
