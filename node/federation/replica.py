"""Applying verified records to this node's copy of the federation, idempotently.

One call applies a batch in ONE SQLite transaction together with the consumer position
(DESIGN §3.4, eventsourcing's tracking-record pattern). Per (author, channel) the node
keeps the highest contiguous seq and the hash at its head: the next seq is applied (its
`prev` must be that head), a later one waits as `pending` until the gap before it fills
(by redelivery or by sync), an earlier one is a duplicate if its hash matches what is held
and equivocation if it does not. Keys are pinned on first use. Nothing here raises for a
bad record: it is quarantined with its reason and the batch goes on.

Speed (BASELINE.md): signatures are checked before the transaction, so the write lock is
not held for them; what the batch needs from SQLite is read in bulk, decisions are made
in memory, and the writes go out in a few `executemany` calls. A record whose kind has a
reactor (an RSVP at its host) or that moves a pin is applied alone, in a savepoint, after
the writes queued before it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

import aiosqlite
import msgspec

from node.federation import records
from node.federation.content import open_body
from node.errors import StoreError
from node.federation.identity import Identity
from node.federation.intake import Rejection, Verified, check, subject_author
from node.metrics import Metrics
from node.store import Store
from schemas.envelope import DOMAIN_TAG, Envelope, Header, Signed, envelope_hash
from schemas.space import KeyRotation, SpaceProfile

Reactor = Callable[[aiosqlite.Connection, Identity, Header, msgspec.Struct, bytes], Awaitable[None]]

__all__ = ["Incoming", "Replica", "BatchResult", "Reactor"]

log = logging.getLogger(__name__)

_envelope: Final = msgspec.msgpack.Decoder(Envelope)
_signed: Final = msgspec.msgpack.Decoder(Signed)
_space: Final = msgspec.msgpack.Decoder(SpaceProfile)
QUARANTINE_ROWS: Final = 10_000
Key = tuple[str, str]


class Incoming(msgspec.Struct, frozen=True):
    """One message as it came: from a consumer (subject set) or from sync (subject None)."""

    data: bytes
    subject: str | None
    source: str


class BatchResult(msgspec.Struct):
    applied: int = 0
    duplicates: int = 0
    quarantined: int = 0
    pending: int = 0
    gaps: dict[tuple[str, str], int] = {}


class _Chain(msgspec.Struct):
    seq: int
    head: bytes


async def _rows(tx: aiosqlite.Connection, sql: str, params: Iterable[Any]) -> list[Any]:
    return list(await tx.execute_fetchall(sql, tuple(params)))


def _marks(n: int) -> str:
    return ",".join("?" * n)


class _Batch:
    """What one transaction needs from SQLite, read in bulk, and the writes it will make."""

    def __init__(self, tx: aiosqlite.Connection) -> None:
        self.tx = tx
        self.pins: dict[str, bytes] = {}
        self.chains: dict[Key, _Chain] = {}
        self.held: dict[tuple[str, str, int], bytes] = {}
        self.pending: dict[Key, dict[int, bytes]] = {}
        self.versions: dict[tuple[str, str, str], int] = {}
        self.box_keys: dict[str, bytes | None] = {}
        self.new_pins: list[tuple[Any, ...]] = []
        self.log_rows: list[tuple[Any, ...]] = []
        self.log_states: list[tuple[Any, ...]] = []
        self.record_rows: list[tuple[Any, ...]] = []
        self.dirty: set[Key] = set()

    async def load(self, verified: Sequence[Verified]) -> None:
        authors = sorted({v.header.author for v in verified})
        for r in await _rows(self.tx, f"SELECT space, sign_key FROM pins WHERE space IN ({_marks(len(authors))})", authors):
            self.pins[r[0]] = bytes(r[1])
        seqs: dict[Key, list[int]] = {}
        for v in verified:
            seqs.setdefault((v.header.author, v.header.channel), []).append(v.header.seq)
        for r in await _rows(self.tx, f"SELECT author, channel, seq, head FROM chains WHERE author IN ({_marks(len(authors))})", authors):
            self.chains[(r[0], r[1])] = _Chain(int(r[2]), bytes(r[3]))
        for key, ss in seqs.items():
            self.chains.setdefault(key, _Chain(0, b""))
            self.pending[key] = {}
            # Two queries, each on its own index (an OR would scan the author's whole log).
            for r in await _rows(
                self.tx,
                "SELECT seq, hash FROM log WHERE author = ? AND channel = ? AND seq BETWEEN ? AND ?",
                (*key, min(ss), max(ss)),
            ):
                self.held[(*key, int(r[0]))] = bytes(r[1])
            for r in await _rows(
                self.tx,
                "SELECT seq, hash, raw FROM log WHERE state = 'pending' AND author = ? AND channel = ?",
                key,
            ):
                self.held[(*key, int(r[0]))] = bytes(r[1])
                self.pending[key][int(r[0])] = bytes(r[2])
        wanted: dict[tuple[str, str], set[str]] = {}
        for v in verified:
            wanted.setdefault((v.header.author, v.header.kind), set()).add(v.header.record_id)
        for (author, kind), ids in wanted.items():
            for chunk in _chunks(sorted(ids), 400):
                for r in await _rows(
                    self.tx,
                    f"SELECT record_id, version FROM records WHERE author = ? AND kind = ? AND record_id IN ({_marks(len(chunk))})",
                    (author, kind, *chunk),
                ):
                    self.versions[(author, kind, r[0])] = int(r[1])

    async def owner(self, kind: str, record_id: str, author: str) -> str | None:
        """Another author already holding this record id (event ids are addressed alone)."""
        rows = await _rows(self.tx, "SELECT author FROM records WHERE kind = ? AND record_id = ? AND author != ? LIMIT 1",
                           (kind, record_id, author))
        return str(rows[0][0]) if rows else None

    async def box_key(self, author: str) -> bytes | None:
        if author not in self.box_keys:
            rows = await _rows(self.tx, "SELECT body FROM records WHERE author = ? AND kind = 'space' AND record_id = ?", (author, author))
            self.box_keys[author] = _space.decode(rows[0][0]).box_key if rows else None
        return self.box_keys[author]

    async def flush(self) -> None:
        tx = self.tx
        if self.new_pins:
            await tx.executemany("INSERT OR IGNORE INTO pins (space, sign_key, source, pinned_at) VALUES (?, ?, 'first-use', ?)", self.new_pins)
        if self.log_rows:
            await tx.executemany(
                "INSERT INTO log (author, channel, seq, id, hash, prev, kind, record_id, version, raw,"
                " state, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self.log_rows)
        if self.log_states:
            await tx.executemany("UPDATE log SET state = ? WHERE author = ? AND channel = ? AND seq = ?", self.log_states)
        if self.record_rows:
            # Several versions of one record in a batch: only the newest needs writing.
            newest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
            for row in self.record_rows:
                key = row[:3]
                if key not in newest or row[4] > newest[key][4]:
                    newest[key] = row
            self.record_rows = list(newest.values())
            await tx.executemany(
                "INSERT INTO records (author, kind, record_id, channel, version, body, hash, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (author, kind, record_id) DO UPDATE SET"
                " channel = excluded.channel, version = excluded.version, body = excluded.body,"
                " hash = excluded.hash, updated_at = excluded.updated_at"
                " WHERE excluded.version > records.version", self.record_rows)
        if self.dirty:
            await tx.executemany(
                "INSERT INTO chains (author, channel, seq, head) VALUES (?, ?, ?, ?) ON CONFLICT"
                " (author, channel) DO UPDATE SET seq = excluded.seq, head = excluded.head",
                [(*k, self.chains[k].seq, self.chains[k].head) for k in self.dirty])
        self.new_pins, self.log_rows, self.log_states, self.record_rows = [], [], [], []
        self.dirty = set()


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class Replica:
    def __init__(self, store: Store, ident: Identity, metrics: Metrics, *, max_skew_hours: float) -> None:
        self._store = store
        self._me = ident.space
        self._ident = ident
        self._metrics = metrics
        self._max_skew = dt.timedelta(hours=max_skew_hours)
        # Domain reactions to an applied record, run in the same transaction (so their
        # outgoing records commit with the apply, or not at all).
        self.reactors: dict[str, Reactor] = {}

    async def pin_config(self, pins: Sequence[tuple[str, bytes]]) -> None:
        """Pins from config win over trust-on-first-use; a conflict is raised to the operator."""
        async with self._store.write() as tx:
            # Our own key may have been rotated since the last start.
            await tx.execute(
                "INSERT INTO pins (space, sign_key, source, pinned_at) VALUES (?, ?, 'self', ?)"
                " ON CONFLICT (space) DO UPDATE SET sign_key = excluded.sign_key",
                (self._me, self._ident.sign_key, time.time()),
            )
            for space, key in pins:
                rows = await _rows(tx, "SELECT sign_key FROM pins WHERE space = ?", (space,))
                if rows and bytes(rows[0][0]) != key:
                    await self._alert(tx, "pin_conflict", space, "config pins a key other than the one first seen")
                await tx.execute(
                    "INSERT INTO pins (space, sign_key, source, pinned_at) VALUES (?, ?, 'config', ?)"
                    " ON CONFLICT (space) DO UPDATE SET sign_key = excluded.sign_key, source = 'config'",
                    (space, key, time.time()),
                )

    def precheck(self, batch: Sequence[Incoming]) -> list[tuple[Incoming, Verified | Rejection | None]]:
        """The stateless checks (size, signature, header, subject, clock) of a batch.

        CPU only and thread-safe: the applier runs it in a worker thread as soon as a batch
        arrives, so signatures are checked while the previous batch is being written.
        None marks our own record coming back: we hold it already, and verifying it again
        would cost a signature check (a forgery on our subjects fools no one else: peers
        check it against our pinned key).
        """
        now = dt.datetime.now(dt.UTC)
        out: list[tuple[Incoming, Verified | Rejection | None]] = []
        for item in batch:
            if item.subject is not None and subject_author(item.subject) == self._me:
                out.append((item, None))
                continue
            try:
                out.append((item, check(item.data, item.subject, me=self._me, now=now, max_skew=self._max_skew)))
            except Rejection as r:
                out.append((item, r))
        return out

    async def apply(
        self,
        batch: Sequence[Incoming],
        positions: dict[str, int] | None = None,
        *,
        prechecked: list[tuple[Incoming, Verified | Rejection | None]] | None = None,
    ) -> BatchResult:
        result = BatchResult(gaps={})
        checked: list[tuple[Incoming, Verified | Rejection]] = []
        for item, v in prechecked if prechecked is not None else self.precheck(batch):
            if v is None:
                result.duplicates += 1
            else:
                checked.append((item, v))
        async with self._store.write() as tx:
            b = _Batch(tx)
            if checked:
                await b.load([v for _, v in checked if isinstance(v, Verified)])
            for item, v in checked:
                try:
                    if isinstance(v, Rejection):
                        raise v
                    await self._accept(b, v, result)
                except (sqlite3.Error, StoreError):
                    raise  # the store is in trouble: roll back, nothing is acked
                except Exception as e:  # noqa: BLE001 - a poison record must not stop the loop
                    why = e if isinstance(e, Rejection) else Rejection("internal_error", repr(e))
                    if not isinstance(e, Rejection):
                        log.exception("replica: unexpected failure on a record; quarantining it")
                    await self._quarantine(tx, item, why, result)
            await b.flush()
            for key, held in b.pending.items():
                if held:
                    result.gaps[key] = b.chains[key].seq
            for consumer, seq in (positions or {}).items():
                await tx.execute(
                    "INSERT INTO positions (consumer, stream_seq) VALUES (?, ?) ON CONFLICT (consumer)"
                    " DO UPDATE SET stream_seq = max(stream_seq, excluded.stream_seq)",
                    (consumer, seq),
                )
        if result.applied:
            self._metrics.applied.labels(kind="any").inc(result.applied)
        if result.duplicates:
            self._metrics.duplicates.inc(result.duplicates)
        return result

    async def _accept(self, b: _Batch, v: Verified, result: BatchResult) -> None:
        h = v.header
        pinned = b.pins.get(h.author)
        if pinned is None:
            log.info("replica: pinned the key of %s on first use", h.author)
            b.pins[h.author] = pinned = v.key
            b.new_pins.append((h.author, v.key, time.time()))
        if pinned != v.key:
            raise Rejection("key_mismatch", f"signed by a key other than the one pinned for {h.author}", author=h.author)
        key = (h.author, h.channel)
        chain = b.chains[key]
        held = b.held.get((*key, h.seq))
        if held is not None:
            if held == v.hash:
                result.duplicates += 1
                return
            raise Rejection("equivocation", f"{h.author} signed two records for {h.channel} seq {h.seq}",
                            author=h.author, alert="equivocation")
        if h.seq != chain.seq + 1:
            b.log_rows.append(_log_row(v, "pending"))
            b.held[(*key, h.seq)] = v.hash
            b.pending[key][h.seq] = v.raw
            result.pending += 1
            return
        await self._apply_next(b, v, chain, result, fresh=True)
        while (raw := b.pending[key].get(chain.seq + 1)) is not None:  # a gap may just have closed
            del b.pending[key][chain.seq + 1]
            held_v = _trusted(raw)
            try:
                if held_v.key != b.pins.get(h.author):  # held under a key rotated away since
                    raise Rejection("key_mismatch", "signed by a key rotated away", author=h.author)
                await self._apply_next(b, held_v, chain, result, fresh=False)
            except Rejection as r:
                b.log_states.append(("rejected", *key, held_v.header.seq))
                await self._quarantine(b.tx, Incoming(held_v.raw, None, "pending"), r, result)
                break

    async def _apply_next(self, b: _Batch, v: Verified, chain: _Chain, result: BatchResult, *, fresh: bool) -> None:
        """Apply the record that extends its chain; `fresh` if it is not in the log yet."""
        h = v.header
        if h.prev != chain.head:
            raise Rejection("bad_prev", f"seq {h.seq} names a previous record this node does not hold",
                            author=h.author, alert="equivocation")
        rid = (h.author, h.kind, h.record_id)
        reason: Rejection | None = None
        try:
            opened = open_body(self._ident, v, await b.box_key(h.author) if h.is_dm else None)
            if h.kind == "event" and h.version == 1 and (other := await b.owner(h.kind, h.record_id, h.author)):
                raise Rejection("id_taken", f"event id {h.record_id} belongs to {other}", author=h.author, alert="id_taken")
            if h.version <= b.versions.get(rid, 0):
                raise Rejection("stale_version", f"version {h.version} of {h.kind} {h.record_id} is not newer than the one held", author=h.author)
            react = self.reactors.get(h.kind)
            if react is not None or isinstance(opened.body, KeyRotation):
                await self._apply_alone(b, v, opened.plain, opened.body, opened.box_key, react)
            else:
                b.record_rows.append((h.author, h.kind, h.record_id, h.channel, h.version, opened.plain, v.hash, time.time()))
            b.versions[rid] = h.version
            if isinstance(opened.body, SpaceProfile):
                b.box_keys[h.author] = opened.body.box_key
            result.applied += 1
        except Rejection as r:
            # A signed, well-chained record whose content is refused still takes its place
            # in the chain; otherwise every later record of its author would wait forever.
            reason = r
        state = "applied" if reason is None else "rejected"
        if fresh:
            b.log_rows.append(_log_row(v, state))
            b.held[(h.author, h.channel, h.seq)] = v.hash
        else:
            b.log_states.append((state, h.author, h.channel, h.seq))
        chain.seq, chain.head = h.seq, v.hash
        b.dirty.add((h.author, h.channel))
        if reason is not None:
            await self._quarantine(b.tx, Incoming(v.raw, h.subject(), "apply"), reason, result)

    async def _apply_alone(
        self, b: _Batch, v: Verified, plain: bytes, body: msgspec.Struct, box_key: bytes, react: Reactor | None
    ) -> None:
        """Records with side effects go in order with what came before, in a savepoint."""
        h = v.header
        await b.flush()
        await b.tx.execute("SAVEPOINT body")
        try:
            await records.put(b.tx, author=h.author, kind=h.kind, record_id=h.record_id,
                              channel=h.channel, version=h.version, body=plain, hash=v.hash)
            if isinstance(body, KeyRotation):
                # Signed by the pinned key (checked above): from here on, the new key.
                await b.tx.execute("UPDATE pins SET sign_key = ?, source = 'rotation', pinned_at = ? WHERE space = ?",
                                   (body.sign_key, time.time(), h.author))
                b.pins[h.author] = body.sign_key
                log.info("replica: %s rotated its signing key", h.author)
            if react is not None:
                await react(b.tx, self._ident, h, body, box_key)
        except Exception as e:
            await b.tx.execute("ROLLBACK TO body")
            await b.tx.execute("RELEASE body")
            if isinstance(e, (sqlite3.Error, StoreError)):
                raise
            if isinstance(e, Rejection):
                raise
            log.exception("replica: the reaction to %s %s failed", h.kind, h.record_id)
            raise Rejection("internal_error", repr(e), author=h.author) from e
        await b.tx.execute("RELEASE body")

    async def _quarantine(
        self, tx: aiosqlite.Connection, item: Incoming, r: Rejection, result: BatchResult
    ) -> None:
        """One row per distinct refused message: a record refused again only counts up."""
        result.quarantined += 1
        self._metrics.quarantined.labels(reason=r.reason).inc()
        author = r.author or (subject_author(item.subject) if item.subject else "")
        if r.alert:
            await self._alert(tx, r.alert, author, r.detail)
        digest = hashlib.sha256(item.data).digest()
        reason = f"{r.reason}: {r.detail}"
        cur = await tx.execute(
            "UPDATE quarantine SET seen = seen + 1, at = ? WHERE digest = ? AND reason = ?",
            (time.time(), digest, reason),
        )
        if cur.rowcount:
            return
        log.warning("replica: quarantined a record from %s on %s: %s", author or "?", item.subject, r)
        await tx.execute(
            "INSERT INTO quarantine (at, source, subject, author, reason, raw, digest, seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            (time.time(), item.source, item.subject or "", author, reason, item.data[:70_000], digest),
        )
        # Bounded: the newest rows are kept.
        await tx.execute(
            "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?", (QUARANTINE_ROWS,)
        )

    async def _alert(self, tx: aiosqlite.Connection, kind: str, space: str, message: str) -> None:
        cur = await tx.execute(
            "UPDATE alerts SET seen = seen + 1, at = ? WHERE kind = ? AND space = ? AND message = ?",
            (time.time(), kind, space, message),
        )
        if cur.rowcount:
            return
        self._metrics.alerts.labels(kind=kind).inc()
        log.error("ALERT %s from %s: %s", kind, space, message)
        await tx.execute(
            "INSERT INTO alerts (at, kind, space, message, seen) VALUES (?, ?, ?, ?, 1)",
            (time.time(), kind, space, message),
        )


def _log_row(v: Verified, state: str) -> tuple[Any, ...]:
    h = v.header
    return (h.author, h.channel, h.seq, h.id, v.hash, h.prev, h.kind, h.record_id, h.version,
            v.raw, state, time.time())


def _trusted(raw: bytes) -> Verified:
    """Decode a record this node verified before storing it as pending: never verify twice."""
    env = _envelope.decode(raw)
    signed = _signed.decode(env.signed[len(DOMAIN_TAG):])
    return Verified(signed.header, signed.body, env.key, raw, envelope_hash(env.signed))
