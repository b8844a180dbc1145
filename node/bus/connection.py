"""The connection to NATS and stream HITODE: connected in a supervised task, never awaited.

`nats.connect()` with unlimited reconnects does not return while the server is down
(DESIGN §8), so start-up never waits on it: HTTP serves from SQLite, writes queue in the
outbox, and the relay and applier wait on `wait_ready()`. JetStream errors are told
apart by `err_code`, not by exception class (DESIGN §9).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Final

import msgspec
import nats
import nats.errors
import nats.js
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from node.errors import BusUnavailable
from node.metrics import Metrics
from node.supervisor import forever

__all__ = ["Bus", "BusSettings", "STREAM", "StreamFactory", "stream_config"]

log = logging.getLogger(__name__)

STREAM: Final = "HITODE"
DAY: Final = 24 * 3600.0

# A stream a feature declares besides HITODE, made for the stream's replica count (the
# same as HITODE's: 3 where there are three servers or more, else 1).
StreamFactory = Callable[[int], StreamConfig]


class BusSettings(msgspec.Struct, frozen=True, kw_only=True):
    urls: list[str]
    name: str
    domain: str = ""
    user: str = ""
    password: str = ""
    creds: str = ""
    stream_replicas: int = 1
    consumer_replicas: int = 1  # 0: as many as the stream


def stream_config(replicas: int) -> StreamConfig:
    """Stream HITODE: limits documented in deploy/RUNBOOK.md.

    The duplicate window (20 min) is only an optimisation; idempotent apply is the
    guarantee. Messages may be up to 256 KiB so that an oversized record reaches the
    nodes' own 64 KiB check and is quarantined with its reason, not lost in a publish error.
    """
    return StreamConfig(
        name=STREAM,
        subjects=["hitode.pub.>", "hitode.dm.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=20 * 60,
        max_age=60 * DAY,
        max_bytes=1024**3,
        max_msg_size=256 * 1024,
        discard=DiscardPolicy.OLD,
        allow_direct=True,
    )


class Bus:
    """Owns the NATS connection; `async with Bus(settings, metrics) as bus`."""

    def __init__(self, settings: BusSettings, metrics: Metrics, streams: Sequence[StreamFactory] = ()) -> None:
        self.settings = settings
        # HITODE first, then the features' own streams (each created if missing)
        self._streams = [stream_config(settings.stream_replicas), *(make(settings.stream_replicas) for make in streams)]
        self._metrics = metrics
        self._nc: NatsClient | None = None
        self._js: nats.js.JetStreamContext | None = None
        self._jsm: nats.js.JetStreamManager | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._setup: asyncio.Task[None] | None = None
        self.state = "connecting"
        # when the bus last became ready (0: never): what was buffered while it was away
        # has been sent since then
        self.ready_since = 0.0
        self._stream_lock = asyncio.Lock()
        self._refusals: dict[str, float] = {}  # kind of refusal -> when last logged

    async def __aenter__(self) -> Bus:
        self._task = asyncio.create_task(forever("bus connect", self._connect), name="bus-connect")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    @property
    def nc(self) -> NatsClient:
        if self._nc is None:
            raise BusUnavailable("not connected to NATS yet")
        return self._nc

    @property
    def js(self) -> nats.js.JetStreamContext:
        if self._js is None:
            raise BusUnavailable("not connected to NATS yet")
        return self._js

    @property
    def api_prefix(self) -> str:
        """The JetStream API subject prefix, with the domain when one is configured."""
        return f"$JS.{self.settings.domain}.API" if self.settings.domain else "$JS.API"

    @property
    def jsm(self) -> nats.js.JetStreamManager:
        if self._jsm is None:
            raise BusUnavailable("not connected to NATS yet")
        return self._jsm

    async def _connect(self) -> None:
        s = self.settings
        delay = 0.2
        while True:
            try:
                nc = await nats.connect(
                    servers=s.urls,
                    name=s.name,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    allow_reconnect=True,
                    user=s.user or None,
                    password=s.password or None,
                    user_credentials=s.creds or None,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                    # A space's node talks to its own server; it must not learn others'.
                    dont_randomize=True,
                )
                break
            except (nats.errors.Error, OSError, TimeoutError) as e:
                self.state = "disconnected"
                log.info("bus: cannot reach NATS at %s (%s); retrying", ", ".join(s.urls), e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        try:
            # The relay bounds its publishes in flight itself. nats-py's own bound for
            # publish_async loses a slot for good whenever the publish underneath raises
            # (its future is never settled), so it must be too large to ever stop us.
            self._js = nc.jetstream(timeout=5, prefix=self.api_prefix, publish_async_max_pending=1 << 30)
            self._jsm = nc.jsm(timeout=5, prefix=self.api_prefix)  # jsm() takes no domain=
        except Exception:
            await nc.close()  # `forever` starts again with a new connection
            raise
        self._nc = nc
        log.info("bus: connected to %s", nc.connected_url.netloc if nc.connected_url else "?")
        await self._prepare()

    async def _prepare(self) -> None:
        """Ready means JetStream answers and stream HITODE exists (created if missing). The
        streams features declared are made after that, without holding the node back: where
        the node may not make them (a hub's admin does), their feature says what it lacks."""
        delay = 0.2
        while True:
            try:
                await self.jsm.account_info()
                await self._ensure_one(self._streams[0])
                break
            except (nats.errors.Error, TimeoutError, OSError) as e:
                log.info("bus: JetStream not ready (%s); retrying", e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.state = "connected"
        self.ready_since = time.time()
        self._metrics.bus_connected.set(1)
        self._ready.set()
        for config in self._streams[1:]:
            try:
                await self._ensure_one(config)
            except (nats.errors.Error, TimeoutError, OSError) as e:
                log.warning("bus: cannot make stream %s (%s); on a hub, `hitode nats-stream` makes it", config.name, e)

    async def ensure_stream(self) -> None:
        """Create the streams if they are gone (deleted, or a server lost its store)."""
        async with self._stream_lock:
            for config in self._streams:
                try:
                    await self._ensure_one(config)
                except (nats.errors.Error, TimeoutError, OSError) as e:
                    log.info("bus: cannot check stream %s (%s)", config.name, e)

    async def _ensure_one(self, config: StreamConfig) -> None:
        assert config.name is not None
        try:
            await self.jsm.stream_info(config.name)
            return
        except nats.js.errors.NotFoundError:
            pass
        try:
            await self.jsm.add_stream(config)
            log.info("bus: created stream %s (R%d)", config.name, config.num_replicas or 1)
        except nats.js.errors.APIError as e:
            if e.err_code != 10058:  # stream name already in use: another node won the race
                raise

    async def _on_disconnected(self) -> None:
        if self._ready.is_set():
            log.warning("bus: disconnected from NATS; writes wait in the outbox")
        self._ready.clear()
        self.state = "disconnected"
        self._metrics.bus_connected.set(0)

    async def _on_reconnected(self) -> None:
        log.info("bus: reconnected")
        if self._setup is None or self._setup.done():
            self._setup = asyncio.create_task(self._prepare(), name="bus-prepare")

    async def _on_error(self, e: Exception) -> None:
        """A refusal by the server is a setup problem the operator must see (nats-py only
        retries, silently); everything else here is the client's reconnect chatter."""
        text = str(e)
        lowered = text.lower()
        if "authorization violation" in lowered or "authentication" in lowered:
            why = "check [nats] user, password or creds in config.toml"
            if not self._ready.is_set():
                self.state = "refused"  # /healthz says why nothing moves
        elif "permissions violation" in lowered:
            why = "the server's allow-list for this space lacks a subject (deploy/RUNBOOK.md)"
        else:
            log.debug("bus: %s", e)
            return
        # Once a minute per kind of refusal: a subject in the text (an ack subject, an
        # inbox) differs for every message and would make each one a new line.
        now = time.monotonic()
        if now - self._refusals.get(why, -3600.0) >= 60:
            self._refusals[why] = now
            log.error("bus: NATS refused us: %s; %s", text.removeprefix("nats: "), why)

    async def close(self) -> None:
        """Stop reconnecting; drain briefly, then close (drain raises while reconnecting)."""
        self._ready.clear()
        self.state = "closed"
        for t in (self._task, self._setup):
            if t is not None:
                t.cancel()
                await asyncio.gather(t, return_exceptions=True)
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            try:
                await asyncio.wait_for(nc.drain(), timeout=3)
            except Exception:  # noqa: BLE001 - any failure here falls back to close
                await nc.close()
