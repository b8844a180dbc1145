"""Applying verified records to this node's copy of the federation, idempotently.

One call applies a batch in ONE SQLite transaction together with the consumer position
(DESIGN §3.4, eventsourcing's tracking-record pattern), as one unit in the store's writer
thread. Per (author, channel) the node keeps the highest contiguous seq and the hash at
its head: the next seq is applied (its `prev` must be that head), a later one waits as
`pending` until the gap before it fills (by redelivery or by sync), an earlier one is a
duplicate if its hash matches what is held and equivocation if it does not. Nothing here
raises for a bad record: it is quarantined with its reason and the batch goes on.

Trust: a space's key is pinned on first use only by a record that applies in chain order
(seq 1, nothing before it), never by one held pending or one with a bad prev. A record id
of a kind addressed by id alone belongs to its first author at every version.

Speed (BASELINE.md): signatures are checked before the transaction, so the writer is not
held for them; decisions are made in memory over what the batch read in bulk. A record
whose kind reacts when applied, or that moves a pin, is applied alone in a savepoint,
after the writes queued before it.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Sequence
from typing import Final

import msgspec

from node.errors import StoreError
from node.federation.batch import Batch, Chain, log_row
from node.federation.content import Opened, open_body
from node.federation.identity import Identity
from node.federation.intake import Incoming, Rejection, Verified, check, subject_author
from node.federation.kinds import Kind, Kinds
from node.federation.quarantine import alert, quarantine
from node.metrics import Metrics
from node.store import Store, Tx
from schemas.envelope import DOMAIN_TAG, Envelope, Signed, envelope_hash
from schemas.space import KeyRotation, SpaceProfile

__all__ = ["Incoming", "Replica", "BatchResult", "APPLIED", "MAX_PENDING", "SMALL_BATCH"]

log = logging.getLogger(__name__)

_envelope: Final = msgspec.msgpack.Decoder(Envelope)
_signed: Final = msgspec.msgpack.Decoder(Signed)
# Records held behind a gap, per chain. A flood of far-ahead records cannot fill the
# disk: past this many, a record is not kept (sync fetches it again, in order, once the
# gap before it is closed).
MAX_PENDING: Final = 1024
APPLIED: Final = "applied"  # the commit topic: records from peers were applied
# A batch this small is checked and applied on the event loop's thread (Ed25519 verify
# ~0.06 ms a record; the transaction inline when the writer is idle): for so few records,
# the hops to a thread and back cost more CPU than the work (bench/README.md).
SMALL_BATCH: Final = 4


class BatchResult(msgspec.Struct):
    applied: int = 0
    duplicates: int = 0
    quarantined: int = 0
    pending: int = 0
    dropped: int = 0
    gaps: dict[tuple[str, str], int] = {}
    kinds: set[str] = set()


Prechecked = list[tuple[Incoming, Verified | Rejection | None]]


class Replica:
    def __init__(self, store: Store, ident: Identity, kinds: Kinds, metrics: Metrics, *, max_skew_hours: float) -> None:
        self._store = store
        self._me = ident.space
        self._ident = ident
        self._kinds = kinds
        self._metrics = metrics
        self._max_skew = dt.timedelta(hours=max_skew_hours)
        self._applied = metrics.applied.labels(kind="any")  # labels() takes a lock per call

    async def pin_config(self, pins: Sequence[tuple[str, bytes]]) -> None:
        """Pins from config stand in for trust on first use: they are set where nothing is
        pinned yet, and never undo what the space itself has signed since (a rotation)."""
        me, key = self._me, self._ident.sign_key

        def unit(tx: Tx) -> None:
            # Our own key may have been rotated since the last start.
            tx.execute(
                "INSERT INTO pins (space, sign_key, source, pinned_at) VALUES (?, ?, 'self', ?)"
                " ON CONFLICT (space) DO UPDATE SET sign_key = excluded.sign_key",
                (me, key, time.time()),
            )
            for space, pinned in pins:
                row = tx.one("SELECT sign_key, source FROM pins WHERE space = ?", (space,))
                if row is None:
                    tx.execute("INSERT INTO pins (space, sign_key, source, pinned_at) VALUES (?, ?, 'config', ?)",
                               (space, pinned, time.time()))
                elif bytes(row[0]) == pinned:
                    continue
                elif row[1] == "rotation":
                    # The space rotated away from the key config names, by a record that
                    # key signed: the pin follows the space, config is merely out of date.
                    log.info("replica: config pins an old key of %s, which has rotated since", space)
                else:
                    if row[1] == "first-use":
                        alert(tx, self._metrics, "pin_conflict", space, "config pins a key other than the one first seen")
                    tx.execute("UPDATE pins SET sign_key = ?, source = 'config' WHERE space = ?", (pinned, space))

        await self._store.transact(unit)

    def precheck(self, batch: Sequence[Incoming]) -> Prechecked:
        """The stateless checks (size, signature, header, subject, clock) of a batch.

        CPU only and thread-safe: the applier runs it in a worker thread as soon as a batch
        arrives, so signatures are checked while the previous batch is being written.
        None marks our own record coming back: we hold it already, and verifying it again
        would cost a signature check (a forgery on our subjects fools no one else: peers
        check it against our pinned key).
        """
        now = dt.datetime.now(dt.UTC)
        out: Prechecked = []
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
        self, batch: Sequence[Incoming], positions: dict[str, int] | None = None, *,
        prechecked: Prechecked | None = None, asked: tuple[str, str, int] | None = None,
    ) -> BatchResult:
        """Apply a batch; `asked` = (author, channel, after) for a sync reply: a peer may
        answer only what it was asked, not slip in records of other chains."""
        checked = prechecked if prechecked is not None else self.precheck(batch)
        if asked is not None:
            checked = [(item, _only(v, asked)) for item, v in checked]
        # Not synced to disk: every record here can be had again (the consumer redelivers
        # from the position SQLite keeps; sync from the author), and a sync per lone record
        # was a third of a receiver's CPU. The node's own records always are (outbox).
        result = await self._store.transact(lambda tx: self.apply_in(tx, checked, positions or {}), durable=False,
                                            inline=len(checked) <= SMALL_BATCH)
        if result.applied:
            self._applied.inc(result.applied)
        if result.duplicates:
            self._metrics.duplicates.inc(result.duplicates)
        return result

    def apply_in(self, tx: Tx, checked: Prechecked, positions: dict[str, int]) -> BatchResult:
        """The whole batch, inside one transaction (run in the writer's thread)."""
        result = BatchResult(gaps={}, kinds=set())
        b = Batch(tx)
        b.load([v for _, v in checked if isinstance(v, Verified)])
        for item, v in checked:
            if v is None:
                result.duplicates += 1
                continue
            try:
                if isinstance(v, Rejection):
                    raise v
                self._accept(b, v, result)
            except (sqlite3.Error, StoreError):
                raise  # the store is in trouble: roll back, nothing is acked
            except Exception as e:  # noqa: BLE001 - a poison record must not stop the loop
                why = e if isinstance(e, Rejection) else Rejection("internal_error", repr(e))
                if not isinstance(e, Rejection):
                    log.exception("replica: unexpected failure on a record; quarantining it")
                self._refuse(tx, item, why, result)
        b.flush()
        for key, held in b.pending.items():
            if held:
                result.gaps[key] = b.chains[key].seq
        for consumer, seq in positions.items():
            tx.execute(
                "INSERT INTO positions (consumer, stream_seq) VALUES (?, ?) ON CONFLICT (consumer)"
                " DO UPDATE SET stream_seq = max(stream_seq, excluded.stream_seq)",
                (consumer, seq),
            )
        if result.applied:
            tx.notify(APPLIED)
        return result

    def _accept(self, b: Batch, v: Verified, result: BatchResult) -> None:
        h = v.header
        if h.author in b.pins and not b.signed_by(h.author, v.key, h.channel, h.seq):
            raise Rejection("key_mismatch", f"signed by a key other than the one pinned for {h.author}", author=h.author)
        key = (h.author, h.channel)
        chain = b.chains[key]
        held = b.held.get((*key, h.seq))
        if held is not None:
            if held == v.hash:
                result.duplicates += 1
                return
            if h.seq in b.pending[key] and not self._held_pending_stands(b, v):
                return  # the forged one was replaced by this record (or this one dropped)
            raise Rejection("equivocation", f"{h.author} signed two records for {h.channel} seq {h.seq}",
                            author=h.author, alert="equivocation")
        if h.seq != chain.seq + 1:
            if h.seq <= chain.seq:  # below the head but not in the log: applied before the log kept it
                result.duplicates += 1
                return
            unpinned = h.author not in b.pins
            if len(b.pending[key]) >= MAX_PENDING or (unpinned and b.unpinned_pending >= MAX_PENDING):
                # Not kept; sync fetches it again, in order, once the gap before it is closed.
                result.dropped += 1
                self._metrics.quarantined.labels(reason="pending_full").inc()
                return
            b.log_rows.append(log_row(v, "pending"))
            b.held[(*key, h.seq)] = v.hash
            b.pending[key].add(h.seq)
            b.unpinned_pending += unpinned
            result.pending += 1
            return
        self._apply_next(b, v, chain, result, fresh=True)
        while chain.seq + 1 in b.pending[key]:  # a gap may just have closed
            nxt = chain.seq + 1
            b.pending[key].discard(nxt)
            raw = b.pending_raw(key, nxt)
            if raw is None:
                break
            held_v = _trusted(raw)
            if not b.signed_by(h.author, held_v.key, h.channel, nxt):
                # Held before the author's key was known, and not signed by it: a forgery
                # (or a key rotated away). It never was in the chain: forget it, so the
                # real record can take the place (sync asks the author for it).
                b.forget_pending(key, nxt)
                self._refuse(b.tx, Incoming(held_v.raw, None, "pending"),
                                 Rejection("key_mismatch", "signed by a key other than the one pinned", author=h.author), result)
                break
            try:
                self._apply_next(b, held_v, chain, result, fresh=False)
            except Rejection as r:  # signed by the pinned key, but not on this chain: a fork
                b.log_states.append(("rejected", *key, nxt))
                self._refuse(b.tx, Incoming(held_v.raw, None, "pending"), r, result)
                break

    def _held_pending_stands(self, b: Batch, v: Verified) -> bool:
        """Two records for one seq, the held one still pending: which stands?

        A pending record of an author not pinned at the time was never checked against a
        key. If the held one is not signed by the key now pinned and the new one is, the
        new one replaces it (no alert: the innocent author did nothing). If neither can be
        told apart from the other by the pin, the first stays and this one is dropped
        quietly; a real equivocation is only one where both are signed by the pinned key.
        """
        h = v.header
        raw = b.pending_raw((h.author, h.channel), h.seq)
        if raw is None or h.author not in b.pins:
            return False
        held_ok = b.signed_by(h.author, _trusted(raw).key, h.channel, h.seq)
        new_ok = b.signed_by(h.author, v.key, h.channel, h.seq)
        if held_ok and new_ok:
            return True
        if new_ok:
            b.forget_pending((h.author, h.channel), h.seq)
            b.log_rows.append(log_row(v, "pending"))
            b.held[(h.author, h.channel, h.seq)] = v.hash
            b.pending[(h.author, h.channel)].add(h.seq)
        return False

    def _apply_next(self, b: Batch, v: Verified, chain: Chain, result: BatchResult, *, fresh: bool) -> None:
        """Apply the record that extends its chain; `fresh` if it is not in the log yet."""
        h = v.header
        if h.prev != chain.head:
            raise Rejection("bad_prev", f"seq {h.seq} names a previous record this node does not hold",
                            author=h.author, alert="equivocation")
        if h.author not in b.pins:
            # Trust on first use, by the first record that applies in order.
            log.info("replica: pinned the key of %s on first use", h.author)
            b.pins[h.author] = v.key
            b.new_pins.append((h.author, v.key, time.time()))
        rid = (h.author, h.kind, h.record_id)
        reason: Rejection | None = None
        try:
            own_dm = h.is_dm and h.author == self._me
            opened = open_body(self._ident, self._kinds, v, b.box_keys_of(h.author) if h.is_dm else None,
                               (b.box_keys_of(h.channel) or ()) if own_dm else ())
            kind = self._kinds.get(h.kind)
            assert kind is not None  # open_body refuses unknown kinds
            if kind.unique_id and (owner := b.owner(h.kind, h.record_id)) not in (None, h.author):
                raise Rejection("id_taken", f"{h.kind} id {h.record_id} belongs to {owner}", author=h.author, alert="id_taken")
            if h.version <= b.versions.get(rid, 0):
                raise Rejection("stale_version", f"version {h.version} of {h.kind} {h.record_id} is not newer than the one held", author=h.author)
            if h.author == self._me and kind.on_apply is not kind.on_taken_back:
                kind = msgspec.structs.replace(kind, on_apply=kind.on_taken_back)  # its own, taken back
            if kind.on_apply is not None or isinstance(opened.body, (KeyRotation, SpaceProfile)):
                self._apply_alone(b, v, opened, kind)
            else:
                b.record_rows.append((h.author, h.kind, h.record_id, h.channel, h.version, opened.plain, v.hash, time.time()))
            b.versions[rid] = h.version
            if kind.unique_id:
                b.own(h.kind, h.record_id, h.author)
            result.applied += 1
            result.kinds.add(h.kind)
        except (StoreError, sqlite3.OperationalError, sqlite3.DatabaseError) as e:
            if isinstance(e, (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError)):
                reason = Rejection("internal_error", f"the record breaks a rule of this node's store: {e}", author=h.author)
            else:
                raise  # the store itself is in trouble: roll the batch back, nothing is acked
        except Rejection as r:
            # A signed, well-chained record whose content is refused still takes its place
            # in the chain; otherwise every later record of its author would wait forever.
            reason = r
        except Exception as e:  # noqa: BLE001 - a feature's rule or reaction failed on this record
            log.exception("replica: %s %s could not be applied", h.kind, h.record_id)
            reason = Rejection("internal_error", repr(e), author=h.author)
        state = "applied" if reason is None else "rejected"
        if fresh:
            b.log_rows.append(log_row(v, state))
            b.held[(h.author, h.channel, h.seq)] = v.hash
        else:
            b.log_states.append((state, h.author, h.channel, h.seq))
        chain.seq, chain.head = h.seq, v.hash
        b.dirty.add((h.author, h.channel))
        if reason is not None:
            self._refuse(b.tx, Incoming(v.raw, h.subject(), "apply"), reason, result)

    def _apply_alone(self, b: Batch, v: Verified, opened: Opened, kind: Kind) -> None:
        """Records with side effects go in order with what came before, in a savepoint."""
        h, body, tx = v.header, opened.body, b.tx
        b.flush()
        tx.execute("SAVEPOINT body")
        try:
            tx.execute(
                "INSERT INTO records (author, kind, record_id, channel, version, body, hash, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (author, kind, record_id) DO UPDATE SET"
                " channel = excluded.channel, version = excluded.version, body = excluded.body,"
                " hash = excluded.hash, updated_at = excluded.updated_at WHERE excluded.version > records.version",
                (h.author, h.kind, h.record_id, h.channel, h.version, opened.plain, v.hash, time.time()),
            )
            if isinstance(body, KeyRotation):
                # Signed by the pinned key (checked above): from here on, the new keys. The
                # old ones stay valid for what they signed before (`heads`): a dm signed
                # then may arrive after the rotation on its own chain.
                b.retire_key(h.author, v.key, body.heads or {h.channel: h.seq})
                tx.execute("UPDATE pins SET sign_key = ?, box_key = ?, source = 'rotation', pinned_at = ? WHERE space = ?",
                           (body.sign_key, body.box_key, time.time(), h.author))
                b.pins[h.author] = body.sign_key
                b.box_keys.pop(h.author, None)
                log.info("replica: %s rotated its keys", h.author)
            elif isinstance(body, SpaceProfile):
                tx.execute("UPDATE pins SET box_key = ? WHERE space = ?", (body.box_key, h.author))
                b.box_keys.pop(h.author, None)
            if kind.on_apply is not None:
                kind.on_apply(tx, self._ident, h, body, opened.box_key)
        except Exception as e:
            tx.execute("ROLLBACK TO body")
            tx.execute("RELEASE body")
            if isinstance(e, (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError)):
                # A reaction that trips a constraint is this record's fault, not the store's.
                raise Rejection("internal_error", f"the reaction to it failed: {e}", author=h.author) from e
            if isinstance(e, (sqlite3.Error, StoreError, Rejection)):
                raise
            log.exception("replica: the reaction to %s %s failed", h.kind, h.record_id)
            raise Rejection("internal_error", repr(e), author=h.author) from e
        tx.execute("RELEASE body")
    def _refuse(self, tx: Tx, item: Incoming, r: Rejection, result: BatchResult) -> None:
        result.quarantined += 1
        quarantine(tx, self._metrics, item, r)


def _only(v: Verified | Rejection | None, asked: tuple[str, str, int]) -> Verified | Rejection | None:
    if isinstance(v, Verified):
        h = v.header
        if (h.author, h.channel) != asked[:2] or h.seq <= asked[2]:
            return Rejection("unasked", f"a sync reply for {asked[0]}/{asked[1]} held {h.author}/{h.channel} seq {h.seq}",
                             author=h.author)
    return v


def _trusted(raw: bytes) -> Verified:
    """Decode a record this node verified before storing it as pending: never verify twice."""
    env = _envelope.decode(raw)
    signed = _signed.decode(env.signed[len(DOMAIN_TAG):])
    return Verified(signed.header, signed.body, env.key, raw, envelope_hash(env.signed))
