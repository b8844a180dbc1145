"""What one apply transaction reads from SQLite in bulk, and the writes it will make.

The replica decides in memory over what `load` read (pins, chain heads, held hashes,
pending seqs, record versions) and queues rows here; `flush` writes them with a few
`executemany` calls (BASELINE.md: a few hundred rows per transaction, not one). Pending
records are read by seq and hash only; a pending record's bytes are read when its turn
comes, so a long gap costs nothing per batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

import msgspec

from node.federation.intake import Verified
from node.store import Tx
from schemas.space import SpaceProfile

__all__ = ["Batch", "Chain", "Key", "log_row"]

Key = tuple[str, str]
_space: Final = msgspec.msgpack.Decoder(SpaceProfile)
_heads: Final = msgspec.msgpack.Decoder(dict[str, int])


class Chain(msgspec.Struct):
    seq: int
    head: bytes


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class Batch:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.pins: dict[str, bytes] = {}
        self.chains: dict[Key, Chain] = {}
        self.held: dict[tuple[str, str, int], bytes] = {}
        self.pending: dict[Key, set[int]] = {}
        self.versions: dict[tuple[str, str, str], int] = {}
        self.owners: dict[tuple[str, str], str | None] = {}
        self.box_keys: dict[str, set[bytes] | None] = {}
        # keys each author rotated away from, with the seq per channel each signed up to
        self.earlier: dict[str, list[tuple[bytes, dict[str, int]]]] = {}
        self.unpinned_pending = 0  # pending rows of authors with no pinned key (bounded)
        self.new_pins: list[tuple[Any, ...]] = []
        self.log_rows: list[tuple[Any, ...]] = []
        self.log_states: list[tuple[Any, ...]] = []
        self.record_rows: list[tuple[Any, ...]] = []
        self.owner_rows: list[tuple[str, str, str]] = []
        self.dirty: set[Key] = set()

    def load(self, verified: Sequence[Verified]) -> None:
        tx = self.tx
        authors = sorted({v.header.author for v in verified})
        # Pinned keys and the keys rotated away from in one statement (heads NULL: the pin);
        # a lone record's transaction pays per statement.
        marks = _marks(len(authors))
        for r in tx.all(f"SELECT space, sign_key, NULL FROM pins WHERE space IN ({marks}) UNION ALL"
                        f" SELECT space, sign_key, heads FROM earlier_keys WHERE space IN ({marks})", authors * 2):
            if r[2] is None:
                self.pins[r[0]] = bytes(r[1])
            else:
                self.earlier.setdefault(r[0], []).append((bytes(r[1]), _heads.decode(r[2])))
        if any(a not in self.pins for a in authors):
            self.unpinned_pending = int(tx.scalar(
                "SELECT count(*) FROM log WHERE state = 'pending' AND author NOT IN (SELECT space FROM pins)") or 0)
        seqs: dict[Key, list[int]] = {}
        for v in verified:
            seqs.setdefault((v.header.author, v.header.channel), []).append(v.header.seq)
        for r in tx.all(f"SELECT author, channel, seq, head FROM chains WHERE author IN ({_marks(len(authors))})", authors):
            self.chains[(r[0], r[1])] = Chain(int(r[2]), bytes(r[3]))
        for key, ss in seqs.items():
            self.chains.setdefault(key, Chain(0, b""))
            self.pending[key] = set()
            # Two selects, each on its own index (an OR would scan the author's whole log),
            # in one statement; the second's rows are the pending ones.
            for r in tx.all(
                "SELECT seq, hash, 0 FROM log WHERE author = ? AND channel = ? AND seq BETWEEN ? AND ? UNION ALL"
                " SELECT seq, hash, 1 FROM log WHERE state = 'pending' AND author = ? AND channel = ?",
                (*key, min(ss), max(ss), *key),
            ):
                self.held[(*key, int(r[0]))] = bytes(r[1])
                if r[2]:
                    self.pending[key].add(int(r[0]))
        wanted: dict[tuple[str, str], set[str]] = {}
        for v in verified:
            wanted.setdefault((v.header.author, v.header.kind), set()).add(v.header.record_id)
        for (author, kind), ids in wanted.items():
            for chunk in _chunks(sorted(ids), 400):
                for r in tx.all(
                    f"SELECT record_id, version FROM records WHERE author = ? AND kind = ? AND record_id IN ({_marks(len(chunk))})",
                    (author, kind, *chunk),
                ):
                    self.versions[(author, kind, r[0])] = int(r[1])

    def pending_raw(self, key: Key, seq: int) -> bytes | None:
        raw = self.tx.scalar(
            "SELECT raw FROM log WHERE author = ? AND channel = ? AND seq = ? AND state = 'pending'", (*key, seq)
        )
        return None if raw is None else bytes(raw)

    def signed_by(self, author: str, key: bytes, channel: str, seq: int) -> bool:
        """Is `key` the author's for this record: the pinned key, or one it rotated away
        from that signed up to this seq on this channel before the rotation."""
        if self.pins.get(author) == key:
            return True
        return any(k == key and seq <= heads.get(channel, 0) for k, heads in self.earlier.get(author, ()))

    def retire_key(self, author: str, key: bytes, heads: dict[str, int]) -> None:
        box = self.tx.scalar("SELECT box_key FROM pins WHERE space = ?", (author,))
        self.tx.execute(
            "INSERT OR REPLACE INTO earlier_keys (space, sign_key, box_key, heads, retired_at) VALUES (?, ?, ?, ?, ?)",
            (author, key, box, msgspec.msgpack.encode(heads), time.time()),
        )
        self.earlier.setdefault(author, []).append((key, dict(heads)))

    def forget_pending(self, key: Key, seq: int) -> None:
        """A pending row that never was part of the chain (see Replica._held_pending_stands)."""
        self.tx.execute("DELETE FROM log WHERE author = ? AND channel = ? AND seq = ? AND state = 'pending'", (*key, seq))
        self.pending[key].discard(seq)
        self.held.pop((*key, seq), None)

    def owner(self, kind: str, record_id: str) -> str | None:
        """The first author of a record id (kinds addressed by id alone), if any."""
        if (kind, record_id) not in self.owners:
            self.owners[(kind, record_id)] = self.tx.scalar(
                "SELECT author FROM owners WHERE kind = ? AND record_id = ?", (kind, record_id))
        return self.owners[(kind, record_id)]

    def own(self, kind: str, record_id: str, author: str) -> None:
        self.owners[(kind, record_id)] = author
        self.owner_rows.append((kind, record_id, author))

    def box_keys_of(self, author: str) -> set[bytes] | None:
        """The box keys the author's own signed records name (profile, rotation), if any."""
        if author not in self.box_keys:
            keys = set()
            row = self.tx.one("SELECT box_key FROM pins WHERE space = ?", (author,))
            if row is not None and row[0]:
                keys.add(bytes(row[0]))
            row = self.tx.one("SELECT body FROM records WHERE author = ? AND kind = 'space' AND record_id = ?",
                              (author, author))
            if row is not None:
                keys.add(_space.decode(row[0]).box_key)
            # the box keys it rotated away from: its dm sealed before the rotation
            keys.update(bytes(r[0]) for r in self.tx.all(
                "SELECT box_key FROM earlier_keys WHERE space = ? AND box_key IS NOT NULL", (author,)))
            self.box_keys[author] = keys or None
        return self.box_keys[author]

    def flush(self) -> None:
        tx = self.tx
        if self.new_pins:
            tx.executemany("INSERT OR IGNORE INTO pins (space, sign_key, source, pinned_at) VALUES (?, ?, 'first-use', ?)", self.new_pins)
        if self.log_rows:
            tx.executemany(
                "INSERT INTO log (author, channel, seq, id, hash, prev, kind, record_id, version, raw,"
                " state, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self.log_rows)
        if self.log_states:
            tx.executemany("UPDATE log SET state = ? WHERE author = ? AND channel = ? AND seq = ?", self.log_states)
        if self.record_rows:
            # Several versions of one record in a batch: only the newest needs writing.
            newest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
            for row in self.record_rows:
                key = row[:3]
                if key not in newest or row[4] > newest[key][4]:
                    newest[key] = row
            tx.executemany(
                "INSERT INTO records (author, kind, record_id, channel, version, body, hash, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (author, kind, record_id) DO UPDATE SET"
                " channel = excluded.channel, version = excluded.version, body = excluded.body,"
                " hash = excluded.hash, updated_at = excluded.updated_at"
                " WHERE excluded.version > records.version", newest.values())
        if self.owner_rows:
            tx.executemany("INSERT OR IGNORE INTO owners (kind, record_id, author) VALUES (?, ?, ?)", self.owner_rows)
        if self.dirty:
            tx.executemany(
                "INSERT INTO chains (author, channel, seq, head) VALUES (?, ?, ?, ?) ON CONFLICT"
                " (author, channel) DO UPDATE SET seq = excluded.seq, head = excluded.head",
                [(*k, self.chains[k].seq, self.chains[k].head) for k in self.dirty])
        self.new_pins, self.log_rows, self.log_states, self.record_rows, self.owner_rows = [], [], [], [], []
        self.dirty = set()


def log_row(v: Verified, state: str) -> tuple[Any, ...]:
    h = v.header
    return (h.author, h.channel, h.seq, h.id, v.hash, h.prev, h.kind, h.record_id, h.version,
            v.raw, state, time.time())


