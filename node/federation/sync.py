"""Gap repair over `hitode.rpc.<to>.sync`: serving records, and asking for missing ones.

A gap (a record lost to stream limits or deleted, a node that joined late) shows as a
record held `pending` after a missing seq, or as a presence beat announcing a higher seq
than this node holds, for the author's `pub` chain or for the dm chain it writes to this
node. Once the consumer has nothing more to deliver and a grace period has passed
(redelivery usually closes a gap first), the node asks the author, then any online peer
for `pub`, since signed records verify themselves. A gap that stays open is asked about
less and less often. Nobody is asked anything on a timer: an idle federation is quiet.

A `dm` chain that lost its newest record shows no gap: its author tells the recipient,
and only it, how far the chain goes when the recipient comes online (`hitode.rpc.<to>.head`).
A `dm` channel is served only to its recipient, whose request is signed, recent, and
names the inbox it listens on, and is answered once: a captured request replayed fetches
nothing. A reply is applied only for what was asked (that author, channel, after that seq).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final

import msgspec
import nats.errors
from nats.aio.msg import Msg

from node.bus.connection import Bus
from node.errors import Rejected
from node.federation.identity import Identity, open_call, sign_call
from node.federation.replica import Incoming, Replica
from node.metrics import Metrics
from node.store import Store
from node.supervisor import forever, woken
from schemas.envelope import PUB
from schemas.rpc import HEAD_TAG, RPC_TAG, DmHead, SyncReply, SyncRequest

__all__ = ["Syncer", "RESTORED"]

log = logging.getLogger(__name__)

_reply_dec: Final = msgspec.msgpack.Decoder(SyncReply)
_enc: Final = msgspec.msgpack.Encoder()
MAX_REPLY_BYTES: Final = 900 * 1024  # under NATS's default 1 MiB max payload
MAX_REQUEST_AGE: Final = dt.timedelta(minutes=5)
# Written by `hitode restore`: this node's own chains may be behind what it wrote before the
# restore; it takes them back from its peers before it writes again (recover_own).
RESTORED: Final = "restored"  # clocks of the federation agree this well (NTP)
Key = tuple[str, str]


class _Gap(msgspec.Struct):
    after: int  # the contiguous seq held when this gap was first seen
    due: float  # monotonic time of the next question
    wait: float  # the pause before the one after


class Syncer:
    GRACE: Final = 1.5  # seconds a gap may stand before this node asks for it
    MAX_WAIT: Final = 120.0  # the longest pause between questions about one gap
    IDLE_LOOK: Final = 30.0  # with no gap open, how often to look at the chains (SQLite only)

    def __init__(
        self,
        bus: Bus,
        store: Store,
        replica: Replica,
        ident: Identity,
        metrics: Metrics,
        *,
        peers: Callable[[], list[str]],
        backlog: Callable[[str], int] = lambda channel: 0,
        interval: float = 1.0,
    ) -> None:
        self._bus = bus
        self._store = store
        self._replica = replica
        self._ident = ident
        self._metrics = metrics
        self._peers = peers
        self._backlog = backlog  # messages the consumer of this channel has yet to deliver
        self._interval = interval
        self._heads: dict[Key, int] = {}
        self._gaps: dict[Key, _Gap] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._kick = asyncio.Event()
        self._answered: dict[str, float] = {}  # reply inboxes of dm requests served (replays)
        self._announce: asyncio.Queue[str] = asyncio.Queue()

    async def __aenter__(self) -> Syncer:
        self._tasks = [
            asyncio.create_task(forever("sync server", self._serve), name="sync-serve"),
            asyncio.create_task(forever("gap repair", self._repair_loop), name="sync-repair"),
            asyncio.create_task(forever("dm heads", self._announce_loop), name="sync-heads"),
        ]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def note_head(self, author: str, channel: str, seq: int) -> None:
        """A peer says how far one of its chains goes (presence beat)."""
        key = (author, channel)
        if seq > self._heads.get(key, 0):
            self._heads[key] = seq
            self._kick.set()

    def kick(self) -> None:
        self._kick.set()

    def announce_heads(self, peer: str) -> None:
        """`peer` came online: tell it, and it alone, how far our dm chain to it goes."""
        self._announce.put_nowait(peer)

    async def _announce_loop(self) -> None:
        me = self._ident.space
        while True:
            peer = await self._announce.get()
            seq = await self._store.scalar("SELECT seq FROM chains WHERE author = ? AND channel = ?", (me, peer))
            if not seq:
                continue
            head = DmHead(author=me, to=peer, seq=int(seq), at=dt.datetime.now(dt.UTC))
            try:
                await self._bus.nc.publish(f"hitode.rpc.{peer}.head", sign_call(self._ident, HEAD_TAG, head))
            except nats.errors.Error as e:
                log.debug("sync: could not tell %s our dm head (%s)", peer, e)

    async def _on_head(self, msg: Msg) -> None:
        try:
            head, key = open_call(msg.data, HEAD_TAG, DmHead)
        except Rejected:
            return
        me = self._ident.space
        if head.to != me or abs(dt.datetime.now(dt.UTC) - head.at) > MAX_REQUEST_AGE:
            return
        pinned = await self._store.scalar("SELECT sign_key FROM pins WHERE space = ?", (head.author,))
        if pinned is None or bytes(pinned) != key:
            return  # only a space whose key we hold can point us at its chain
        self.note_head(head.author, me, head.seq)

    # serving

    async def _serve(self) -> None:
        await self._bus.wait_ready()
        # nats-py re-subscribes by itself after a reconnect.
        subs = [
            await self._bus.nc.subscribe(f"hitode.rpc.{self._ident.space}.sync", cb=self._handle),
            await self._bus.nc.subscribe(f"hitode.rpc.{self._ident.space}.head", cb=self._on_head),
        ]
        try:
            await asyncio.Event().wait()
        finally:
            for sub in subs:
                with contextlib.suppress(nats.errors.Error):
                    await sub.unsubscribe()

    async def _handle(self, msg: Msg) -> None:
        if not msg.reply:
            return
        try:
            reply = await self.answer(msg.data, msg.reply)
        except Rejected as e:
            reply = SyncReply(error=e.message)
        except Exception:  # noqa: BLE001 - a caller's odd request must not go unanswered
            log.exception("sync: failed to answer a request")
            reply = SyncReply(error="the node failed on this request")
        try:
            await msg.respond(_enc.encode(reply))
        except nats.errors.Error as e:
            log.info("sync: could not answer (%s)", e)

    async def answer(self, data: bytes, reply_to: str) -> SyncReply:
        req, key = open_call(data, RPC_TAG, SyncRequest)
        if abs(dt.datetime.now(dt.UTC) - req.at) > MAX_REQUEST_AGE:
            raise Rejected("the request is too old or from the future; check the clock")
        pinned = await self._store.scalar("SELECT sign_key FROM pins WHERE space = ?", (req.caller,))
        if pinned is not None and bytes(pinned) != key:
            raise Rejected(f"the request is not signed by {req.caller}'s pinned key")
        if req.channel != PUB:
            # Served to its recipient, and to its author (a restored node taking back what it wrote).
            if req.caller not in (req.channel, req.author) or pinned is None:
                raise Rejected("a dm channel is served only to its recipient")
            if req.reply != reply_to:
                # Signed for another inbox: a captured request replayed from elsewhere.
                raise Rejected("the request names another reply inbox")
            now = time.monotonic()
            for inbox, at in list(self._answered.items()):
                if now - at > MAX_REQUEST_AGE.total_seconds() * 2:
                    del self._answered[inbox]
            if req.reply in self._answered:
                raise Rejected("this request was answered already")  # replayed to the same inbox
            self._answered[req.reply] = now
        # The size cap is applied in SQL, so a request never loads more than one reply.
        rows = await self._store.all(
            "SELECT raw FROM (SELECT raw, sum(length(raw) + 8) OVER (ORDER BY seq) AS total"
            " FROM log WHERE author = ? AND channel = ? AND seq > ? AND state != 'pending'"
            " ORDER BY seq LIMIT ?) WHERE total <= ?",
            (req.author, req.channel, req.after, req.limit, MAX_REPLY_BYTES),
        )
        self._metrics.sync_served.inc()
        return SyncReply(envelopes=[bytes(r[0]) for r in rows])

    # repairing

    async def _open_gaps(self) -> dict[Key, int]:
        """Each chain that is behind what is known to exist, with its contiguous seq."""
        chains = {
            (r[0], r[1]): int(r[2])
            for r in await self._store.all("SELECT author, channel, seq FROM chains")
        }
        gaps: dict[Key, int] = {}
        for r in await self._store.all("SELECT DISTINCT author, channel FROM log WHERE state = 'pending'"):
            key = (r[0], r[1])
            gaps[key] = chains.get(key, 0)
        for key, head in self._heads.items():
            # A head announced by presence is a gap only once the consumer has nothing
            # more for us; before that, the records are on their way.
            if key[0] != self._ident.space and head > chains.get(key, 0) and self._backlog(key[1]) == 0:
                gaps[key] = chains.get(key, 0)
        return gaps

    async def _repair_loop(self) -> None:
        wait = self.IDLE_LOOK
        while True:
            await woken(self._kick, wait)
            self._kick.clear()
            await self._bus.wait_ready()
            open_now = await self._open_gaps()
            now = time.monotonic()
            for key in list(self._gaps):
                if key not in open_now:
                    del self._gaps[key]
            for key, after in open_now.items():
                gap = self._gaps.get(key)
                if gap is None or after > gap.after:  # new, or it moved on: start afresh
                    self._gaps[key] = gap = _Gap(after=after, due=now + self.GRACE, wait=self.GRACE)
                if now >= gap.due:
                    await self.repair(*key, after=after)
                    gap.wait = min(gap.wait * 2, self.MAX_WAIT)
                    gap.due = time.monotonic() + gap.wait
            # Sleep until the next question is due; with nothing open, look again now and
            # then anyway (a head announced while the consumer was busy), locally only.
            now = time.monotonic()
            wait = min((g.due - now for g in self._gaps.values()), default=self.IDLE_LOOK)
            wait = max(0.05, min(wait, self._interval if self._waiting_heads() else self.IDLE_LOOK))

    def _waiting_heads(self) -> bool:
        """Heads announced beyond what the consumers have delivered yet."""
        return any(self._backlog(channel) for _, channel in self._heads)

    async def recover_own(self, peers: list[str]) -> int:
        """After a restore: what this node wrote after its backup, taken back from its peers.

        Its pub chain from any peer, and its dm chain to each peer from that peer; asked
        until nothing more comes. Returns how many records came back.
        """
        me, total = self._ident.space, 0
        for channel, ask in [(PUB, p) for p in peers] + [(p, p) for p in peers]:
            while True:
                held = int(await self._store.scalar(
                    "SELECT seq FROM chains WHERE author = ? AND channel = ?", (me, channel)) or 0)
                got = await self._ask(ask, me, channel, held)
                total += got
                if not got:
                    break
        return total

    async def _ask(self, peer: str, author: str, channel: str, after: int) -> int:
        """One signed sync request to one peer; how many records it brought that applied."""
        reply = await self._request(peer, author, channel, after)
        if reply is None or reply.error or not reply.envelopes:
            return 0
        result = await self._replica.apply([Incoming(e, None, f"sync:{peer}") for e in reply.envelopes],
                                           asked=(author, channel, after))
        return result.applied

    async def _request(self, peer: str, author: str, channel: str, after: int) -> SyncReply | None:
        """Ask `peer` for `author`'s records on `channel` after `after`: a signed request that
        names the inbox it listens on (see `answer`). None when nobody answered in time."""
        nc = self._bus.nc
        inbox = nc.new_inbox()
        req = SyncRequest(caller=self._ident.space, author=author, channel=channel, after=after,
                          at=dt.datetime.now(dt.UTC), reply=inbox)
        try:
            sub = await nc.subscribe(inbox, max_msgs=1)
            try:
                await nc.publish(f"hitode.rpc.{peer}.sync", sign_call(self._ident, RPC_TAG, req), reply=inbox)
                return _reply_dec.decode((await sub.next_msg(timeout=2.0)).data)
            finally:
                with contextlib.suppress(nats.errors.Error):
                    await sub.unsubscribe()
        except (nats.errors.Error, TimeoutError, msgspec.DecodeError, msgspec.ValidationError) as e:
            log.debug("sync: %s did not answer for %s/%s (%s)", peer, author, channel, e)
            return None

    async def repair(self, author: str, channel: str, *, after: int) -> int:
        """Ask the author, then (for pub) other peers; returns how many records applied."""
        candidates = [author]
        if channel == PUB:
            candidates += [p for p in self._peers() if p not in (author, self._ident.space)]
        for peer in candidates:
            reply = await self._request(peer, author, channel, after)
            if reply is None:
                self._metrics.sync_requests.labels(outcome="no_answer").inc()
                continue
            if reply.error:
                self._metrics.sync_requests.labels(outcome="refused").inc()
                log.info("sync: %s refused to serve %s/%s: %s", peer, author, channel, reply.error)
                continue
            if not reply.envelopes:
                self._metrics.sync_requests.labels(outcome="empty").inc()
                continue
            result = await self._replica.apply(
                [Incoming(e, None, f"sync:{peer}") for e in reply.envelopes], asked=(author, channel, after)
            )
            self._metrics.sync_requests.labels(outcome="repaired").inc()
            log.info("sync: %d records of %s/%s after seq %d came from %s", result.applied, author, channel, after, peer)
            return result.applied
        return 0
