"""Applying verified records to this node's copy of the federation, idempotently.

One call applies a batch in ONE SQLite transaction together with the consumer position
(DESIGN §3.4, eventsourcing's tracking-record pattern). Per (author, channel) the node
keeps the highest contiguous seq and the hash at its head: the next seq is applied (its
`prev` must be that head), a later one waits as `pending` until the gap before it fills
(by redelivery or by sync), an earlier one is a duplicate if its hash matches what is held
and equivocation if it does not. Keys are pinned on first use. Nothing here raises for a
bad record: it is quarantined with its reason and the batch goes on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import aiosqlite
import msgspec

from node import records
from node.errors import Rejected, StoreError
from node.identity import Identity
from node.intake import Rejection, Verified, check, subject_author
from node.metrics import Metrics
from node.store import Store
from schemas.envelope import DOMAIN_TAG, Envelope, Signed, envelope_hash
from schemas.note import Sealed
from schemas.records import DM_KINDS, KINDS, decode_body
from schemas.event import Event
from schemas.envelope import Header
from schemas.space import KeyRotation, SpaceProfile

Reactor = Callable[[aiosqlite.Connection, Identity, Header, msgspec.Struct, bytes], Awaitable[None]]

__all__ = ["Incoming", "Replica", "BatchResult", "Reactor"]

log = logging.getLogger(__name__)

_envelope: Final = msgspec.msgpack.Decoder(Envelope)
_signed: Final = msgspec.msgpack.Decoder(Signed)
_sealed: Final = msgspec.msgpack.Decoder(Sealed)
_space: Final = msgspec.msgpack.Decoder(SpaceProfile)
QUARANTINE_ROWS: Final = 10_000


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
                async with tx.execute("SELECT sign_key FROM pins WHERE space = ?", (space,)) as cur:
                    row = await cur.fetchone()
                if row is not None and bytes(row[0]) != key:
                    await self._alert(tx, "pin_conflict", space, "config pins a key other than the one first seen")
                await tx.execute(
                    "INSERT INTO pins (space, sign_key, source, pinned_at) VALUES (?, ?, 'config', ?)"
                    " ON CONFLICT (space) DO UPDATE SET sign_key = excluded.sign_key, source = 'config'",
                    (space, key, time.time()),
                )

    async def _pin(self, tx: aiosqlite.Connection, space: str, key: bytes, source: str) -> None:
        await tx.execute(
            "INSERT OR IGNORE INTO pins (space, sign_key, source, pinned_at) VALUES (?, ?, ?, ?)",
            (space, key, source, time.time()),
        )

    async def apply(
        self, batch: Sequence[Incoming], positions: dict[str, int] | None = None
    ) -> BatchResult:
        result = BatchResult(gaps={})
        now = dt.datetime.now(dt.UTC)
        async with self._store.write() as tx:
            chains: dict[tuple[str, str], _Chain] = {}
            pins: dict[str, bytes] = {}
            for item in batch:
                # Each record in a savepoint: one that fails half-way leaves no trace but
                # its quarantine row (and its alert).
                await tx.execute("SAVEPOINT item")
                try:
                    v = check(item.data, item.subject, me=self._me, now=now, max_skew=self._max_skew)
                    await self._accept(tx, v, chains, pins, result)
                except (sqlite3.Error, StoreError):
                    raise  # the store is in trouble: roll back, nothing is acked
                except Exception as e:  # noqa: BLE001 - a poison record must not stop the loop
                    r = e if isinstance(e, Rejection) else Rejection("internal_error", repr(e))
                    if not isinstance(e, Rejection):
                        log.exception("replica: unexpected failure on a record; quarantining it")
                    await tx.execute("ROLLBACK TO item")
                    chains.clear()  # caches may hold what was just rolled back
                    pins.clear()
                    await self._quarantine(tx, item, r, result)
                await tx.execute("RELEASE item")
            for (author, channel), c in chains.items():
                async with tx.execute(
                    "SELECT max(seq) FROM log WHERE author = ? AND channel = ? AND state = 'pending'",
                    (author, channel),
                ) as cur:
                    row = await cur.fetchone()
                if row and row[0] is not None:
                    result.gaps[(author, channel)] = c.seq
            for consumer, seq in (positions or {}).items():
                await tx.execute(
                    "INSERT INTO positions (consumer, stream_seq) VALUES (?, ?) ON CONFLICT (consumer)"
                    " DO UPDATE SET stream_seq = max(stream_seq, excluded.stream_seq)",
                    (consumer, seq),
                )
        return result

    async def _accept(
        self,
        tx: aiosqlite.Connection,
        v: Verified,
        chains: dict[tuple[str, str], _Chain],
        pins: dict[str, bytes],
        result: BatchResult,
    ) -> None:
        h = v.header
        pinned = pins.get(h.author)
        if pinned is None:
            async with tx.execute("SELECT sign_key FROM pins WHERE space = ?", (h.author,)) as cur:
                row = await cur.fetchone()
            if row is None:
                await self._pin(tx, h.author, v.key, "first-use")
                log.info("replica: pinned the key of %s on first use", h.author)
                pinned = v.key
            else:
                pinned = bytes(row[0])
            pins[h.author] = pinned
        if pinned != v.key:
            raise Rejection("key_mismatch", f"signed by a key other than the one pinned for {h.author}", author=h.author)
        key = (h.author, h.channel)
        chain = chains.get(key)
        if chain is None:
            async with tx.execute(
                "SELECT seq, head FROM chains WHERE author = ? AND channel = ?", key
            ) as cur:
                row = await cur.fetchone()
            chain = chains[key] = _Chain(int(row[0]), bytes(row[1])) if row else _Chain(0, b"")
        async with tx.execute(
            "SELECT hash FROM log WHERE author = ? AND channel = ? AND seq = ?", (*key, h.seq)
        ) as cur:
            held = await cur.fetchone()
        if held is not None:
            if bytes(held[0]) == v.hash:
                result.duplicates += 1
                self._metrics.duplicates.inc()
                return
            raise Rejection("equivocation", f"{h.author} signed two records for {h.channel} seq {h.seq}",
                            author=h.author, alert="equivocation")
        if h.seq != chain.seq + 1:
            await self._log(tx, v, "pending")
            result.pending += 1
            return
        await self._apply_next(tx, v, chain, result)
        rotated = h.kind == "rotation"
        while True:  # the gap before held records may just have closed
            async with tx.execute(
                "SELECT raw FROM log WHERE author = ? AND channel = ? AND seq = ? AND state = 'pending'",
                (*key, chain.seq + 1),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                break
            await tx.execute(
                "DELETE FROM log WHERE author = ? AND channel = ? AND seq = ?", (*key, chain.seq + 1)
            )
            held_v = _trusted(bytes(row[0]))
            try:
                if rotated:  # held under the old key; a record after a rotation needs the new
                    async with tx.execute("SELECT sign_key FROM pins WHERE space = ?", (h.author,)) as cur:
                        pin = await cur.fetchone()
                    if pin is None or bytes(pin[0]) != held_v.key:
                        raise Rejection("key_mismatch", "signed by a key rotated away", author=h.author)
                await self._apply_next(tx, held_v, chain, result)
                rotated = rotated or held_v.header.kind == "rotation"
            except Rejection as r:
                await self._quarantine(tx, Incoming(held_v.raw, None, "pending"), r, result)
                break
        if rotated:
            pins.pop(h.author, None)  # the batch's cache still holds the old key

    async def _apply_next(
        self, tx: aiosqlite.Connection, v: Verified, chain: _Chain, result: BatchResult
    ) -> None:
        h = v.header
        if h.prev != chain.head:
            raise Rejection("bad_prev", f"seq {h.seq} names a previous record this node does not hold",
                            author=h.author, alert="equivocation")
        state = "applied"
        reason: Rejection | None = None
        await tx.execute("SAVEPOINT body")
        try:
            plain, body, box_key = await self._open(tx, v)
            if not await records.put(
                tx, author=h.author, kind=h.kind, record_id=h.record_id, channel=h.channel,
                version=h.version, body=plain, hash=v.hash,
            ):
                raise Rejection("stale_version", f"version {h.version} of {h.kind} {h.record_id} is not newer than the one held", author=h.author)
            react = self.reactors.get(h.kind)
            if react is not None:
                await react(tx, self._ident, h, body, box_key)
            result.applied += 1
            self._metrics.applied.labels(kind=h.kind).inc()
        except Rejection as r:
            # A signed, well-chained record whose content is refused still takes its place
            # in the chain; otherwise every later record of its author would wait forever.
            await tx.execute("ROLLBACK TO body")
            state, reason = "rejected", r
        await tx.execute("RELEASE body")
        await self._log(tx, v, state)
        chain.seq, chain.head = h.seq, v.hash
        await tx.execute(
            "INSERT INTO chains (author, channel, seq, head) VALUES (?, ?, ?, ?) ON CONFLICT"
            " (author, channel) DO UPDATE SET seq = excluded.seq, head = excluded.head",
            (h.author, h.channel, h.seq, v.hash),
        )
        if reason is not None:
            await self._quarantine(tx, Incoming(v.raw, h.subject(), "apply"), reason, result)

    async def _open(self, tx: aiosqlite.Connection, v: Verified) -> tuple[bytes, msgspec.Struct, bytes]:
        """(plaintext, body, sender's box key), checked against the header; raises Rejection."""
        h = v.header
        box_key = b""
        if h.kind not in KINDS or (h.kind in DM_KINDS) != h.is_dm:
            raise Rejection("unknown_kind", f"kind {h.kind!r} is not known on channel {h.channel}", author=h.author)
        plain = v.body
        if h.is_dm:
            try:
                sealed = _sealed.decode(v.body)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                raise Rejection("bad_body", f"sealed body: {e}", author=h.author) from None
            async with tx.execute(
                "SELECT body FROM records WHERE author = ? AND kind = 'space' AND record_id = ?",
                (h.author, h.author),
            ) as cur:
                row = await cur.fetchone()
            if row is not None and _space.decode(row[0]).box_key != sealed.box_key:
                raise Rejection("key_mismatch", "sealed with a box key other than the sender's", author=h.author)
            box_key = sealed.box_key
            try:
                plain = self._ident.unseal(sealed.nonce, sealed.ciphertext, sealed.box_key)
            except Rejected as e:
                raise Rejection("bad_body", e.message, author=h.author) from None
        try:
            body = decode_body(h.kind, plain)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise Rejection("bad_body", f"{h.kind} body: {e}", author=h.author) from None
        if h.is_dm:
            want = (h.author, h.channel, h.record_id, h.version)
            got = tuple(getattr(body, f, None) for f in ("author", "to", "record_id", "version"))
            if got != want:
                raise Rejection("header_mismatch", "the sealed body does not repeat its signed header", author=h.author)
        if isinstance(body, SpaceProfile):
            if body.id != h.author or h.record_id != h.author:
                raise Rejection("header_mismatch", "a space record must describe its author", author=h.author)
            if body.sign_key != v.key:
                raise Rejection("key_mismatch", "the space record names another signing key", author=h.author)
        elif isinstance(body, KeyRotation):
            if body.space != h.author or h.record_id != h.author:
                raise Rejection("header_mismatch", "a key rotation must name its author", author=h.author)
            # Signed by the pinned key (checked on arrival): from here on, the new key.
            await tx.execute(
                "UPDATE pins SET sign_key = ?, source = 'rotation', pinned_at = ? WHERE space = ?",
                (body.sign_key, time.time(), h.author),
            )
            log.info("replica: %s rotated its signing key", h.author)
        elif isinstance(body, Event) and (body.space != h.author or body.id != h.record_id):
            raise Rejection("header_mismatch", "an event must be hosted by its author, under its own id", author=h.author)
        return plain, body, box_key

    async def _log(self, tx: aiosqlite.Connection, v: Verified, state: str) -> None:
        h = v.header
        await tx.execute(
            "INSERT INTO log (author, channel, seq, id, hash, prev, kind, record_id, version, raw,"
            " state, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (h.author, h.channel, h.seq, h.id, v.hash, h.prev, h.kind, h.record_id, h.version,
             v.raw, state, time.time()),
        )

    async def _quarantine(
        self, tx: aiosqlite.Connection, item: Incoming, r: Rejection, result: BatchResult
    ) -> None:
        """One row per distinct refused message: a record refused again only counts up."""
        result.quarantined += 1
        self._metrics.quarantined.labels(reason=r.reason).inc()
        author = r.author or (subject_author(item.subject) if item.subject else "")
        if r.alert:
            await self._alert(tx, r.alert, author, r.detail)
        cur = await tx.execute(
            "UPDATE quarantine SET seen = seen + 1, at = ? WHERE digest = ? AND reason = ?",
            (time.time(), hashlib.sha256(item.data).digest(), f"{r.reason}: {r.detail}"),
        )
        if cur.rowcount:
            return
        log.warning("replica: quarantined a record from %s on %s: %s", author or "?", item.subject, r)
        await tx.execute(
            "INSERT INTO quarantine (at, source, subject, author, reason, raw, digest, seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            (time.time(), item.source, item.subject or "", author, f"{r.reason}: {r.detail}",
             item.data[:70_000], hashlib.sha256(item.data).digest()),
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


def _trusted(raw: bytes) -> Verified:
    """Decode a record this node verified before storing it as pending: never verify twice."""
    env = _envelope.decode(raw)
    signed = _signed.decode(env.signed[len(DOMAIN_TAG):])
    return Verified(signed.header, signed.body, env.key, raw, envelope_hash(env.signed))


