"""The apply loops: this node's two durable pull consumers on stream HITODE.

`<space>-pub` takes `hitode.pub.>` and `<space>-dm` takes `hitode.dm.<space>.>`, one
filter each so that server permissions can restrict them (DESIGN §4). They are created
through the filtered create subject and bound, never with `pull_subscribe(durable=…)`.
SQLite keeps the last applied stream sequence per consumer; a consumer that is gone is
re-created from there. Each batch taken (node.pull) is applied in one transaction, then acked.

Acks are owed for a moment and paid together: each record applied is acked (explicit acks,
after its commit), once `ACK_EVERY` records are owed or `ACK_AFTER` seconds after the first
one was applied. Acks sent in one go leave in one write to the socket; when records come
one at a time, an ack each woke the client's flusher and wrote to the socket per record.
Owing an ack loses nothing: what the server does not hear acked it delivers again after
`ack_wait`, and applying a record again is a no-op. (Cumulative acks would save the
messages too, but one ack would then also cover records delivered to a session that died
before applying them.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Final

import nats.errors
import nats.js
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from node.bus.connection import STREAM, Bus
from node.bus.pull import Pull, PullEnded
from node.federation.intake import Rejection, Verified
from node.federation.replica import SMALL_BATCH, BatchResult, Incoming, Replica
from node.metrics import Metrics
from node.store import Store, Tx

__all__ = ["Applier", "consumer_names"]

log = logging.getLogger(__name__)

DAY: Final = 24 * 3600.0
ACK_EVERY: Final = 128  # records owed an ack: pay at once (max_ack_pending is 512)
ACK_AFTER: Final = 0.5  # seconds after the first record owed an ack; far below ack_wait
_Fetched = tuple[list[Msg], list[Incoming], list[tuple[Incoming, Verified | Rejection | None]]]


def consumer_names(space: str) -> dict[str, str]:
    return {f"{space}-pub": "hitode.pub.>", f"{space}-dm": f"hitode.dm.{space}.>"}


class Applier:
    """Runs both consumer loops; `async with Applier(...)` owns their tasks."""

    def __init__(
        self,
        bus: Bus,
        store: Store,
        replica: Replica,
        space: str,
        metrics: Metrics,
        *,
        batch: int = 256,
        on_batch: Callable[[BatchResult], None] | None = None,
    ) -> None:
        self._bus = bus
        self._store = store
        self._replica = replica
        self._space = space
        self._metrics = metrics
        self._batch = batch
        self._on_batch = on_batch
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._applying: set[str] = set()
        self._unacked: set[str] = set()  # consumers with records left unacked (an ack failed)
        self.lag: dict[str, int] = {}

    async def __aenter__(self) -> Applier:
        self._tasks = [
            asyncio.create_task(self._run(name, subject), name=f"apply-{name}")
            for name, subject in consumer_names(self._space).items()
        ]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop fetching; a batch being applied is committed and acked first (bounded)."""
        self._stopping = True
        for name, t in zip(consumer_names(self._space), self._tasks):
            if name not in self._applying:
                t.cancel()
        if self._applying:
            await asyncio.wait(self._tasks, timeout=10.0)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _stream_position(self, name: str) -> int:
        """The position to resume from, or 0 if stream HITODE is not the one it was kept for.

        A stream deleted and re-created starts its sequence again: resuming from the old
        position would skip every new record. Applying from the start is safe (idempotent).
        """
        try:
            info = await self._bus.jsm.stream_info(STREAM)
        except nats.js.errors.NotFoundError:
            await self._bus.ensure_stream()
            raise
        created = str(info.created or "")
        row = await self._store.one(
            "SELECT stream_seq, stream_created FROM positions WHERE consumer = ?", (name,)
        )
        pos, seen = (int(row[0]), str(row[1])) if row else (0, "")
        if (seen and seen != created) or pos > info.state.last_seq:
            log.warning("applier: stream %s was re-created; %s reads it from the start", STREAM, name)
            pos = 0
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await self._bus.jsm.delete_consumer(STREAM, name)
        if row is None or pos != int(row[0]) or seen != created:
            def unit(tx: Tx) -> None:
                tx.execute(
                    "INSERT INTO positions (consumer, stream_seq, stream_created) VALUES (?, ?, ?)"
                    " ON CONFLICT (consumer) DO UPDATE SET stream_seq = excluded.stream_seq,"
                    " stream_created = excluded.stream_created",
                    (name, pos, created),
                )

            await self._store.transact(unit)
        return pos

    async def _bind(self, name: str, subject: str) -> Pull:
        pos = await self._stream_position(name)
        try:
            info = await self._bus.jsm.consumer_info(STREAM, name)
            self.lag[name] = int(info.num_pending or 0)
            cfg = info.config
            acked = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
            if acked > pos:
                # The server holds acks for records SQLite does not: applied records commit
                # without a sync to disk (they can be had again), and a power cut took the
                # last ones. Take them again from what SQLite holds.
                log.warning("applier: %s was acked to stream seq %d, SQLite holds %d; taking them again",
                            name, acked, pos)
                await self._bus.jsm.delete_consumer(STREAM, name)
                raise nats.js.errors.NotFoundError
            if cfg.filter_subject != subject or cfg.deliver_subject or cfg.ack_policy != AckPolicy.EXPLICIT:
                # Not the consumer this node makes (another filter, push, another ack
                # policy): it would deliver the wrong records or none. Make it again
                # from the position SQLite keeps.
                log.warning("applier: consumer %s is not configured as expected; making it again", name)
                await self._bus.jsm.delete_consumer(STREAM, name)
                raise nats.js.errors.NotFoundError
        except nats.js.errors.NotFoundError:
            # An R1 consumer lives on one server: where servers are shared (a hub) and one
            # may be cut off, `consumer_replicas = 0` gives it as many as the stream.
            replicas = self._bus.settings.consumer_replicas
            if not replicas:
                replicas = (await self._bus.jsm.stream_info(STREAM)).config.num_replicas or 1
            start = (
                {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": pos + 1}
                if pos
                else {"deliver_policy": DeliverPolicy.ALL}
            )
            await self._bus.jsm.add_consumer(
                STREAM,
                ConsumerConfig(
                    name=name,
                    durable_name=name,
                    filter_subject=subject,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=30,
                    max_ack_pending=512,  # two batches of 256: one applied, one on its way
                    inactive_threshold=14 * DAY,
                    num_replicas=replicas,
                    **start,
                ),
            )
            log.info("applier: created consumer %s from stream seq %d", name, pos + 1)
            self._unacked.discard(name)  # a new consumer has nothing left unacked
        return Pull(
            self._bus.nc, self._bus.api_prefix, STREAM, name, batch=self._batch,
            on_idle=lambda: self._idle(name),
        )

    async def _run(self, name: str, subject: str) -> None:
        delay = 0.2
        while not self._stopping:
            await self._bus.wait_ready()
            try:
                pull = await self._bind(name, subject)
            except (nats.errors.Error, TimeoutError, OSError) as e:
                log.info("applier: cannot bind %s (%s); retrying", name, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            failed = False
            try:
                async with pull:
                    await self._consume(name, pull)
            except PullEnded as e:
                log.info("applier: %s; re-binding", e)
            except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError):
                pass
            except Exception:  # noqa: BLE001 - e.g. the store failed: nothing was acked
                failed = True
                log.exception("applier: %s failed; binding again in %.1fs", name, delay)
            if pull.delivered and not failed:
                delay = 0.2  # it worked for a while: bind again at once
                continue
            # Failed, or ended before delivering anything: wait, longer each time, so a
            # refusal that persists (a server limit, a permission) does not spin.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _idle(self, name: str) -> None:
        """The server has nothing more for this consumer: caught up once nothing is in hand."""
        if name not in self._applying and name not in self._unacked:
            self.lag[name] = 0

    async def _fetch(self, pull: Pull, name: str, within: float | None = None) -> _Fetched:
        msgs = await pull.take(self._batch, within)
        items = [Incoming(m.data, m.subject, name) for m in msgs]
        if len(items) <= SMALL_BATCH:
            return msgs, items, self._replica.precheck(items)
        # Signatures are checked in a thread (PyNaCl releases the GIL), beside the
        # previous batch's writes.
        return msgs, items, await asyncio.to_thread(self._replica.precheck, items)

    async def _consume(self, name: str, pull: Pull) -> None:
        """Take and apply until the pull ends (PullEnded); then the caller re-binds.

        The next batch is taken and checked while the current one is applied
        (max_ack_pending leaves room for two), so the apply loop does not wait between
        batches. The acks owed for what was applied are paid by this loop too: when enough
        are owed, or when nothing more came within ACK_AFTER.
        """
        loop = asyncio.get_running_loop()
        ahead: asyncio.Task[_Fetched] | None = None
        owed: list[Msg] = []  # applied (committed) and not acked yet
        since = 0.0  # when the first of them was applied
        try:
            while not self._stopping:
                due = None if not owed else max(0.0, since + ACK_AFTER - loop.time())
                if ahead is None:  # nothing taken ahead: take here (a task would cost a loop turn)
                    msgs, items, prechecked = await self._fetch(pull, name, due)
                else:
                    if due is not None:  # records are on their way, but may be slow to come
                        await asyncio.wait({ahead}, timeout=due)  # (`finally` cancels it if we are)
                        if not ahead.done():
                            owed = await self._ack(name, owed)
                    task, ahead = ahead, None
                    msgs, items, prechecked = await task
                if not msgs:  # nothing more came meanwhile: pay what is owed
                    owed = await self._ack(name, owed)
                    continue
                last = msgs[-1].metadata  # messages arrive in stream order
                self.lag[name] = int(last.num_pending or 0) + pull.buffered
                if (self.lag[name]) and not self._stopping:
                    ahead = asyncio.create_task(self._fetch(pull, name))
                self._applying.add(name)
                try:
                    result = await self._replica.apply(items, {name: last.sequence.stream}, prechecked=prechecked)
                    if not owed:
                        since = loop.time()
                    owed.extend(msgs)  # acked only after the commit
                    if len(owed) >= ACK_EVERY or loop.time() - since >= ACK_AFTER or self._stopping:
                        owed = await self._ack(name, owed)
                finally:
                    self._applying.discard(name)
                if self._on_batch is not None:
                    self._on_batch(result)
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
            if owed:  # stopping or re-binding: pay what is owed if the bus lets us
                await self._ack(name, owed)

    async def _ack(self, name: str, msgs: list[Msg]) -> list[Msg]:
        """Ack each of `msgs` (one write to the socket for all); returns what is still owed: nothing."""
        try:
            for m in msgs:
                await m.ack()
            self._unacked.discard(name)
        except (nats.errors.Error, OSError):
            # Redelivered after ack_wait; applying again is a no-op. Until then the
            # server's heartbeats do not mean caught up.
            self._unacked.add(name)
        return []
