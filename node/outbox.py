"""The transactional outbox: own records signed once, kept, and relayed until acked.

`append` runs inside the caller's write transaction: it signs the record, appends it to
the author's chain and to the log, and queues it; the write and its outgoing record commit
together (DESIGN §3.2). The `Relay` then publishes those exact bytes with msg-id = the
envelope id, many in flight, each bounded by a timeout, retrying with backoff across
outages and restarts. A duplicate ack is a success; a timeout means "unknown, send again".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import deque
from types import TracebackType
from typing import Final

import aiosqlite
import msgspec
import nats.errors
import nats.js.errors
import uuid6
from nats.js.api import Header as NatsHeader

from node import records
from node.bus import Bus
from node.identity import Identity
from node.metrics import Metrics
from node.store import Store
from schemas.envelope import DOMAIN_TAG, PUB, Envelope, Header, Signed, envelope_hash
from schemas.note import Sealed
from schemas.records import encode_body

__all__ = ["append", "Relay", "new_id"]

log = logging.getLogger(__name__)
_enc: Final = msgspec.msgpack.Encoder()


def new_id() -> str:
    """UUIDv7: globally unique and sortable by creation time."""
    return str(uuid6.uuid7())


async def append(
    tx: aiosqlite.Connection,
    ident: Identity,
    *,
    kind: str,
    record_id: str,
    version: int,
    body: msgspec.Struct,
    channel: str = PUB,
    recipient_box_key: bytes | None = None,
) -> Header:
    """Sign a record and queue it, inside the caller's transaction."""
    async with tx.execute(
        "SELECT seq, head FROM chains WHERE author = ? AND channel = ?", (ident.space, channel)
    ) as cur:
        row = await cur.fetchone()
    seq, prev = (int(row[0]) + 1, bytes(row[1])) if row else (1, b"")
    plain = encode_body(body)
    if channel == PUB:
        payload = plain
    else:
        if recipient_box_key is None:
            raise ValueError("a dm needs the recipient's box key")
        nonce, ciphertext = ident.seal(plain, recipient_box_key)
        payload = _enc.encode(Sealed(box_key=ident.box_key, nonce=nonce, ciphertext=ciphertext))
    header = Header(
        id=new_id(),
        author=ident.space,
        channel=channel,
        seq=seq,
        prev=prev,
        kind=kind,
        record_id=record_id,
        version=version,
        created_at=dt.datetime.now(dt.UTC),
    )
    signed = DOMAIN_TAG + _enc.encode(Signed(header, payload))
    raw = _enc.encode(Envelope(signed=signed, sig=ident.sign(signed), key=ident.sign_key))
    digest = envelope_hash(raw)
    now = time.time()
    await tx.execute(
        "INSERT INTO log (author, channel, seq, id, hash, prev, kind, record_id, version, raw,"
        " state, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'applied', ?)",
        (ident.space, channel, seq, header.id, digest, prev, kind, record_id, version, raw, now),
    )
    await tx.execute(
        "INSERT INTO chains (author, channel, seq, head) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (author, channel) DO UPDATE SET seq = excluded.seq, head = excluded.head",
        (ident.space, channel, seq, digest),
    )
    await tx.execute(
        "INSERT INTO outbox (id, channel, seq, subject, enqueued_at) VALUES (?, ?, ?, ?, ?)",
        (header.id, channel, seq, header.subject(), now),
    )
    stored = await records.put(
        tx,
        author=ident.space,
        kind=kind,
        record_id=record_id,
        channel=channel,
        version=version,
        body=plain,
        hash=digest,
    )
    if not stored:
        raise ValueError(f"version {version} of {kind} {record_id} is not newer than the stored one")
    return header


class _Row(msgspec.Struct, frozen=True):
    rowid: int
    id: str
    subject: str
    raw: bytes


class Relay:
    """Publishes the outbox to JetStream; `async with Relay(...)` owns its tasks."""

    BACKOFF_MIN: Final = 0.1
    BACKOFF_MAX: Final = 5.0

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
        self._in_flight = in_flight
        self._timeout = timeout
        self._wake = asyncio.Event()
        self._acked: list[str] = []
        self._retry: deque[_Row] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._backoff = 0.0
        self._flushed = asyncio.Event()

    def wake(self) -> None:
        """Called after a commit that queued records."""
        self._wake.set()

    async def __aenter__(self) -> Relay:
        self._loops = [
            asyncio.create_task(self._send_loop(), name="relay-send"),
            asyncio.create_task(self._flush_loop(), name="relay-flush"),
        ]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for t in self._loops:
            t.cancel()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        # Whatever was acked is marked sent; anything else is resent next start.
        await self._flush()

    async def backlog(self) -> int:
        return int(await self._store.scalar("SELECT count(*) FROM outbox") or 0)

    async def _send_loop(self) -> None:
        sem = asyncio.Semaphore(self._in_flight)
        cursor = 0
        pending: deque[_Row] = deque()
        while True:
            await self._bus.wait_ready()
            if self._backoff:
                await asyncio.sleep(self._backoff)
            if not pending and not self._retry:
                rows = await self._store.all(
                    "SELECT o.rowid, o.id, o.subject, l.raw FROM outbox o JOIN log l"
                    " ON l.author = ? AND l.channel = o.channel AND l.seq = o.seq"
                    " WHERE o.rowid > ? ORDER BY o.rowid LIMIT ?",
                    (self._space, cursor, self._in_flight),
                )
                pending.extend(_Row(r[0], r[1], r[2], bytes(r[3])) for r in rows)
                if rows:
                    cursor = int(rows[-1][0])
                elif not self._tasks:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                    except TimeoutError:
                        # A restart of the relay rereads from the start; so does a quiet
                        # spell, in case a row was left behind by a cancelled send.
                        cursor = 0
                    continue
                else:
                    self._wake.clear()
                    await asyncio.wait(
                        [asyncio.create_task(self._wake.wait()), *self._tasks],
                        timeout=0.5,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    continue
            row = self._retry.popleft() if self._retry else pending.popleft()
            await sem.acquire()
            task = asyncio.create_task(self._publish(row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(lambda _: sem.release())

    async def _publish(self, row: _Row) -> None:
        started = time.perf_counter()
        try:
            ack = await asyncio.wait_for(
                self._bus.js.publish(
                    row.subject, row.raw, timeout=self._timeout, headers={NatsHeader.MSG_ID: row.id}
                ),
                timeout=self._timeout + 1,
            )
        except (TimeoutError, nats.errors.Error, OSError) as e:
            # Unknown outcome: send the same bytes again later (same msg-id).
            self._retry.append(row)
            self._backoff = min(self.BACKOFF_MAX, max(self.BACKOFF_MIN, self._backoff * 2))
            self._metrics.relay_errors.inc()
            log.info("relay: publish of %s failed (%s); will retry", row.id, type(e).__name__)
            return
        self._backoff = 0.0
        self._acked.append(row.id)
        self._metrics.relay_published.labels(duplicate=str(bool(ack.duplicate)).lower()).inc()
        self._metrics.relay_latency.observe(time.perf_counter() - started)
        if len(self._acked) >= 256:
            self._flushed.set()

    async def _flush_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._flushed.wait(), timeout=0.05)
            except TimeoutError:
                pass
            self._flushed.clear()
            await self._flush()

    async def _flush(self) -> None:
        if not self._acked:
            return
        done, self._acked = self._acked, []
        async with self._store.write() as tx:
            await tx.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in done])
