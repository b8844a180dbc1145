"""The relay: own records from the outbox to JetStream, until each is acked.

It publishes the exact bytes the outbox holds with msg-id = the envelope id, many in
flight, each bounded by a timeout, retrying with backoff across outages and restarts
(DESIGN §3.2). A duplicate ack is a success; a timeout means "unknown, send again". It
wakes when a commit queued records (the store's `OUTBOX` topic) and sleeps otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Final

import msgspec
import nats.errors
import nats.js.errors
from nats.js.api import Header as NatsHeader
from nats.js.api import PubAck

from node.bus.connection import Bus
from node.errors import HitodeError
from node.federation.outbox import OUTBOX
from node.metrics import Metrics
from node.store import Store, Tx
from node.supervisor import forever, woken

__all__ = ["Relay"]

log = logging.getLogger(__name__)


class _Row(msgspec.Struct, frozen=True):
    id: str
    subject: str
    raw: bytes


class Relay:
    """Publishes the outbox to JetStream; `async with Relay(...)` owns its tasks.

    Rows are read in the order they were queued, from a cursor on `outbox.n`, which never
    reuses a number, so each row is read once; a failed publish goes to the retry queue.
    A restart reads from the start again: whatever was not marked is sent again, with the
    same msg-id.

    Publishes go out with `publish_async` (one future each, no task per record: at a few
    thousand records a second a task and a timer per publish were a third of the relay's
    CPU). Its futures can wait forever on a server error (DESIGN §9), so one sweep bounds
    them all: a publish older than the timeout is cancelled and sent again.
    """

    BACKOFF_MIN: Final = 0.1
    BACKOFF_MAX: Final = 5.0
    FLUSH_AFTER: Final = 0.05  # seconds from the first ack to marking it in the outbox

    def __init__(
        self,
        store: Store,
        bus: Bus,
        space: str,
        metrics: Metrics,
        *,
        in_flight: int = 512,
        timeout: float = 5.0,
    ) -> None:
        self._store = store
        self._bus = bus
        self._space = space
        self._metrics = metrics
        self._timeout = timeout
        self._wake = asyncio.Event()
        self._acked: list[str] = []
        self._retry: deque[_Row] = deque()
        self._room = asyncio.Semaphore(in_flight)
        self._in_flight = in_flight
        # In flight: each publish's future, its row and when it was sent (monotonic).
        self._sent: dict[asyncio.Future[PubAck], tuple[_Row, float]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._stream_gone = False
        self._loops: list[asyncio.Task[None]] = []
        self._backoff = 0.0
        self._flush_now = asyncio.Event()  # an ack is waiting to be marked
        self._flush_full = asyncio.Event()  # a batch of them is
        self._unlisten: Callable[[], None] = lambda: None

    def wake(self) -> None:
        """Called after a commit that queued records."""
        self._wake.set()

    async def __aenter__(self) -> Relay:
        self._unlisten = self._store.on_commit(OUTBOX, self.wake)
        self._loops = [
            asyncio.create_task(forever("relay send loop", self._send_loop), name="relay-send"),
            asyncio.create_task(forever("relay flush loop", self._flush_loop), name="relay-flush"),
            asyncio.create_task(forever("relay sweep", self._sweep_loop), name="relay-sweep"),
        ]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._unlisten()
        for t in self._loops:
            t.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        # Publishes in flight get a moment to be acked; the rest are resent next start.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=2.0)
        for fut in list(self._sent):
            fut.cancel()
        await asyncio.sleep(0)  # let the cancelled futures' callbacks run
        try:
            await self._flush()
        except HitodeError as err:
            log.warning("relay: could not mark the last acks (%s); they will be resent", err)

    async def backlog(self) -> int:
        return int(await self._store.scalar("SELECT count(*) FROM outbox") or 0)

    async def _send_loop(self) -> None:
        fresh: deque[_Row] = deque()
        cursor = 0  # outbox.n only grows (AUTOINCREMENT): rows at or below it are handled
        while True:
            await self._bus.wait_ready()
            if self._backoff:
                await asyncio.sleep(self._backoff)
            if self._stream_gone:
                self._stream_gone = False
                await self._bus.ensure_stream()
            if self._retry:
                row = self._retry.popleft()
            else:
                if not fresh:
                    self._wake.clear()  # before reading: a commit after this wakes us
                    rows = await self._store.all(
                        "SELECT o.n, o.id, o.subject, l.raw FROM outbox o JOIN log l"
                        " ON l.author = ? AND l.channel = o.channel AND l.seq = o.seq"
                        " WHERE o.n > ? ORDER BY o.n LIMIT ?",
                        (self._space, cursor, self._in_flight),
                    )
                    if rows:
                        cursor = int(rows[-1][0])
                    fresh.extend(_Row(r[1], r[2], bytes(r[3])) for r in rows)
                    if not fresh:
                        await woken(self._wake, 1.0)
                        continue
                row = fresh.popleft()
            if not self._bus.nc.is_connected:
                # Published now it would only wait in the reconnect buffer (or fill it).
                self._retry.appendleft(row)
                await asyncio.sleep(0.05)
                continue
            await self._room.acquire()
            try:
                fut = await self._bus.js.publish_async(
                    row.subject, row.raw, headers={NatsHeader.MSG_ID: row.id}
                )
            except (nats.errors.Error, OSError, HitodeError) as e:
                self._room.release()
                self._failed(row, e)
                continue
            self._sent[fut] = (row, time.monotonic())
            self._idle.clear()
            fut.add_done_callback(self._settled)

    def _settled(self, fut: asyncio.Future[PubAck]) -> None:
        row, sent_at = self._sent.pop(fut)
        self._room.release()
        if not self._sent:
            self._idle.set()
        if fut.cancelled():
            self._failed(row, TimeoutError("no ack in time"))
            return
        e = fut.exception()
        if e is not None:
            self._failed(row, e)
            return
        self._backoff = 0.0
        self._acked.append(row.id)
        self._metrics.relay_published.labels(duplicate=str(bool(fut.result().duplicate)).lower()).inc()
        self._metrics.relay_latency.observe(time.monotonic() - sent_at)
        self._flush_now.set()
        if len(self._acked) >= 256:
            self._flush_full.set()

    def _failed(self, row: _Row, e: BaseException) -> None:
        """Unknown outcome: send the same bytes again later (same msg-id)."""
        self._retry.append(row)
        self._wake.set()
        # One line per spell of failures, not one per record in flight (up to 512).
        say = log.info if not self._backoff else log.debug
        say("relay: publish of %s failed (%s); will retry", row.id, type(e).__name__)
        self._backoff = min(self.BACKOFF_MAX, max(self.BACKOFF_MIN, self._backoff * 2))
        self._metrics.relay_errors.inc()
        if _stream_missing(e):
            self._stream_gone = True

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._timeout / 4))
            too_old = time.monotonic() - self._timeout
            for fut, (_, sent_at) in list(self._sent.items()):
                if sent_at < too_old:
                    fut.cancel()

    async def _flush_loop(self) -> None:
        """Acked rows leave the outbox in batches: at 256, or FLUSH_AFTER after the first
        ack of a spell. An idle relay sleeps without a timer."""
        while True:
            if not self._acked:
                self._flush_now.clear()
                await self._flush_now.wait()
            if len(self._acked) < 256:
                self._flush_full.clear()
                await woken(self._flush_full, self.FLUSH_AFTER)
            await self._flush()

    async def _flush(self) -> None:
        if not self._acked:
            return
        done, self._acked = self._acked, []

        def unit(tx: Tx) -> None:
            tx.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in done])

        try:
            await self._store.transact(unit)
        except BaseException:
            self._acked = done + self._acked  # try again; a resend would be a duplicate
            raise


def _stream_missing(e: BaseException) -> bool:
    """No stream answers for the subject (err_code 10059, or no responders at all)."""
    if isinstance(e, nats.js.errors.NoStreamResponseError):
        return True
    return isinstance(e, nats.js.errors.APIError) and e.err_code == 10059
