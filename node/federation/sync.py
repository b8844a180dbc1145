"""Gap repair over `hitode.rpc.<to>.sync`: serving records, and asking for missing ones.

A gap (a record lost to stream limits or deleted, a node that joined late) shows as a
record held `pending` after a missing seq, or as a presence beat announcing a higher seq
than this node holds. After a grace period (redelivery usually closes it first), the node
asks the author, then any online peer for `pub`, since signed records verify themselves.
A `dm` channel is served only to its recipient, whose request is signed (DESIGN §4).
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
from node.metrics import Metrics
from node.federation.replica import Incoming, Replica
from node.store import Store
from node.supervisor import forever
from schemas.envelope import PUB
from schemas.rpc import RPC_TAG, SyncReply, SyncRequest

__all__ = ["Syncer"]

log = logging.getLogger(__name__)

_reply_dec: Final = msgspec.msgpack.Decoder(SyncReply)
_enc: Final = msgspec.msgpack.Encoder()
MAX_REPLY_BYTES: Final = 900 * 1024  # under NATS's default 1 MiB max payload
MAX_REQUEST_AGE: Final = dt.timedelta(hours=1)


class Syncer:
    GRACE: Final = 1.5  # seconds a gap may stand before this node asks for it
    DM_SWEEP: Final = 30.0  # seconds between asking peers for dm records this node lacks

    def __init__(
        self,
        bus: Bus,
        store: Store,
        replica: Replica,
        ident: Identity,
        metrics: Metrics,
        *,
        peers: Callable[[], list[str]],
        backlog: Callable[[], int] = lambda: 0,
        interval: float = 1.0,
    ) -> None:
        self._bus = bus
        self._store = store
        self._replica = replica
        self._ident = ident
        self._metrics = metrics
        self._peers = peers
        self._backlog = backlog
        self._interval = interval
        self._heads: dict[tuple[str, str], int] = {}
        self._since: dict[tuple[str, str], float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._kick = asyncio.Event()

    async def __aenter__(self) -> Syncer:
        self._tasks = [
            asyncio.create_task(forever("sync server", self._serve), name="sync-serve"),
            asyncio.create_task(forever("gap repair", self._repair_loop), name="sync-repair"),
        ]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def note_head(self, author: str, channel: str, seq: int) -> None:
        """A peer says how far its chain goes (presence beat)."""
        key = (author, channel)
        if seq > self._heads.get(key, 0):
            self._heads[key] = seq

    def kick(self) -> None:
        self._kick.set()

    # serving

    async def _serve(self) -> None:
        await self._bus.wait_ready()
        # nats-py re-subscribes by itself after a reconnect.
        sub = await self._bus.nc.subscribe(f"hitode.rpc.{self._ident.space}.sync", cb=self._handle)
        try:
            await asyncio.Event().wait()
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def _handle(self, msg: Msg) -> None:
        try:
            reply = await self.answer(msg.data)
        except Rejected as e:
            reply = SyncReply(error=e.message)
        try:
            await msg.respond(_enc.encode(reply))
        except nats.errors.Error as e:
            log.info("sync: could not answer (%s)", e)

    async def answer(self, data: bytes) -> SyncReply:
        req, key = open_call(data, RPC_TAG, SyncRequest)
        if abs(dt.datetime.now(dt.UTC) - req.at) > MAX_REQUEST_AGE:
            # A replayed request must not fetch a dm channel's records to another inbox.
            raise Rejected("the request is too old or from the future; check the clock")
        pinned = await self._store.scalar("SELECT sign_key FROM pins WHERE space = ?", (req.caller,))
        if pinned is not None and bytes(pinned) != key:
            raise Rejected(f"the request is not signed by {req.caller}'s pinned key")
        if req.channel != PUB and (req.channel != req.caller or pinned is None):
            raise Rejected("a dm channel is served only to its recipient")
        # The size cap is applied in SQL, so a request never loads more than one reply.
        rows = await self._store.all(
            "SELECT raw FROM (SELECT raw, sum(length(raw) + 8) OVER (ORDER BY seq) AS total"
            " FROM log WHERE author = ? AND channel = ? AND seq > ? AND state != 'pending'"
            " ORDER BY seq LIMIT ?) WHERE total <= ?",
            (req.author, req.channel, req.after, req.limit, MAX_REPLY_BYTES),
        )
        out = [bytes(r[0]) for r in rows]
        self._metrics.sync_served.inc()
        return SyncReply(envelopes=out)

    # repairing

    async def _gaps(self) -> dict[tuple[str, str], int]:
        """Each chain that is behind what is known to exist, with its contiguous seq."""
        chains = {
            (r[0], r[1]): int(r[2])
            for r in await self._store.all("SELECT author, channel, seq FROM chains")
        }
        gaps: dict[tuple[str, str], int] = {}
        for r in await self._store.all(
            "SELECT DISTINCT author, channel FROM log WHERE state = 'pending'"
        ):
            key = (r[0], r[1])
            gaps[key] = chains.get(key, 0)
        if self._backlog() == 0:
            # A head announced by presence is a gap only once the stream has nothing more
            # for us; before that, the records are on their way through the consumer.
            for key, head in self._heads.items():
                if key[0] != self._ident.space and head > chains.get(key, 0):
                    gaps[key] = chains.get(key, 0)
        return gaps

    async def _repair_loop(self) -> None:
        last_dm_sweep = 0.0
        while True:
            try:
                await asyncio.wait_for(self._kick.wait(), timeout=self._interval)
            except TimeoutError:
                pass
            self._kick.clear()
            await self._bus.wait_ready()
            gaps = await self._gaps()
            now = time.monotonic()
            for key in list(self._since):
                if key not in gaps:
                    del self._since[key]
            for key, after in gaps.items():
                first = self._since.setdefault(key, now)
                if now - first >= self.GRACE:
                    await self.repair(*key, after=after)
                    self._since[key] = now
            if now - last_dm_sweep >= self.DM_SWEEP:
                # A dm lost at the end of a channel shows no gap (nothing comes after it),
                # and presence announces only the pub head: ask online peers now and then.
                last_dm_sweep = now
                me = self._ident.space
                for peer in self._peers():
                    held = await self._store.scalar(
                        "SELECT seq FROM chains WHERE author = ? AND channel = ?", (peer, me)
                    )
                    await self.repair(peer, me, after=int(held or 0), quiet=True)

    async def repair(self, author: str, channel: str, *, after: int, quiet: bool = False) -> int:
        """Ask the author, then (for pub) other peers; returns how many records applied."""
        candidates = [author]
        if channel == PUB:
            candidates += [p for p in self._peers() if p not in (author, self._ident.space)]
        req = SyncRequest(
            caller=self._ident.space, author=author, channel=channel, after=after,
            at=dt.datetime.now(dt.UTC),
        )
        payload = sign_call(self._ident, RPC_TAG, req)
        for peer in candidates:
            try:
                msg = await self._bus.nc.request(f"hitode.rpc.{peer}.sync", payload, timeout=2.0)
                reply = _reply_dec.decode(msg.data)
            except (nats.errors.Error, TimeoutError, msgspec.DecodeError, msgspec.ValidationError) as e:
                self._metrics.sync_requests.labels(outcome="no_answer").inc()
                log.debug("sync: %s did not answer for %s/%s (%s)", peer, author, channel, e)
                continue
            if reply.error:
                self._metrics.sync_requests.labels(outcome="refused").inc()
                log.warning("sync: %s refused to serve %s/%s: %s", peer, author, channel, reply.error)
                continue
            if not reply.envelopes:
                if not quiet:
                    self._metrics.sync_requests.labels(outcome="empty").inc()
                continue
            result = await self._replica.apply([Incoming(e, None, f"sync:{peer}") for e in reply.envelopes])
            self._metrics.sync_requests.labels(outcome="repaired").inc()
            log.info(
                "sync: %d records of %s/%s after seq %d came from %s",
                result.applied, author, channel, after, peer,
            )
            return result.applied
        return 0
