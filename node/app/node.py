"""The Node: one space's running node, the kernel composed with the features it is given.

Entered in data-flow order and left in reverse (AsyncExitStack): store (with every
feature's migrations), embedded nats-server (only when no URL is configured), bus, relay,
applier, sync, directory, the features' own parts, the features' RPC ops, HTTP. Leaving stops HTTP first (no new
writes), then the features' parts, then lets the loops finish their current batch
(commit, then ack), then closes the bus, the server and the store.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

from aiohttp import web

from node.app.features import DEFAULT, kinds_of
from node.bus.connection import Bus, BusSettings
from node.bus.embedded import EmbeddedNats
from node.config import Config
from node.errors import ConfigError
from node.feature import Feature, check_composition
from node.federation import rotation
from node.federation.applier import Applier
from node.federation.directory import Directory
from node.federation.identity import Identity, read_token
from node.federation.relay import Relay
from node.federation.rpc import Rpc, RpcServer
from node.federation.replica import BatchResult, Replica
from node.federation.sync import RESTORED, Syncer
from node.metrics import Metrics
from node.store import Store
from node.web import status
from node.web.app import make_app
from schemas.envelope import PUB

__all__ = ["Node", "RUN_FILE", "DB_FILE"]

log = logging.getLogger(__name__)

RUN_FILE: Final = "run.json"
DB_FILE: Final = "hitode.db"
T = TypeVar("T")


class Node:
    """Satisfies `node.context.Context`: what features see of it."""

    def __init__(self, data_dir: Path, config: Config, features: Sequence[Feature] = DEFAULT) -> None:
        self.data_dir = data_dir
        self.config = config
        check_composition(features)
        self.features = tuple(features)
        self.space = config.space.id
        self.metrics = Metrics()
        self.token = read_token(data_dir)
        self.kinds = kinds_of(self.features)
        self._parts: dict[type, object] = {}
        self._stack = AsyncExitStack()
        self.http_url = ""
        self.nats_urls: list[str] = list(config.nats.urls)
        self.embedded: EmbeddedNats | None = None

    # parts, set in __aenter__
    ident: Identity
    store: Store
    bus: Bus
    relay: Relay
    replica: Replica
    syncer: Syncer
    applier: Applier
    directory: Directory

    def part(self, type_: type[T]) -> T:
        got = self._parts.get(type_)
        if not isinstance(got, type_):
            raise LookupError(f"no running {type_.__name__} in this node")
        return got

    async def __aenter__(self) -> Node:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        log.info("node %s: stopping", self.space)
        try:
            await self._stack.aclose()
        finally:
            (self.data_dir / RUN_FILE).unlink(missing_ok=True)
        log.info("node %s: stopped", self.space)

    async def _start(self) -> None:
        cfg = self.config
        enter = self._stack.enter_async_context
        self.store = await enter(
            Store(self.data_dir / DB_FILE, [(f.name, f.migrations) for f in self.features if f.migrations])
        )
        await rotation.finish(self.data_dir, self.store, self.space)
        self.ident = Identity.load(self.space, self.data_dir)
        if not self.nats_urls:
            self.embedded = await enter(
                EmbeddedNats(
                    store_dir=self.data_dir / "nats",
                    name=self.space,
                    binary=cfg.embedded.binary or None,
                    client_port=cfg.embedded.client_port,
                )
            )
            self.nats_urls = [self.embedded.client_url]
        self.replica = Replica(self.store, self.ident, self.kinds, self.metrics,
                               max_skew_hours=cfg.tuning.max_clock_skew_hours)
        await self.replica.pin_config([(p.space, p.key_bytes()) for p in cfg.pins])
        self.bus = await enter(
            Bus(
                BusSettings(
                    urls=self.nats_urls, name=f"hitode-{self.space}", domain=cfg.nats.domain,
                    user=cfg.nats.user, password=cfg.nats.password, creds=cfg.nats.creds,
                    stream_replicas=cfg.nats.stream_replicas, consumer_replicas=cfg.nats.consumer_replicas,
                ),
                self.metrics,
            )
        )
        self.relay = await enter(
            Relay(
                self.store, self.bus, self.space, self.metrics,
                in_flight=cfg.tuning.relay_in_flight, timeout=cfg.tuning.relay_timeout,
            )
        )
        # Both made before either starts: each one's loops call the other.
        self.syncer = Syncer(
            self.bus, self.store, self.replica, self.ident, self.metrics,
            peers=lambda: self.directory.peers(),
            backlog=lambda channel: self.applier.lag.get(f"{self.space}-{'pub' if channel == PUB else 'dm'}", 1),
        )
        self.applier = await enter(
            Applier(self.bus, self.store, self.replica, self.space, self.metrics,
                    batch=cfg.tuning.fetch_batch, on_batch=self._on_batch)
        )
        self.directory = Directory(self.store, self.bus, self.ident, cfg, on_head=self.syncer.note_head,
                                   on_online=self.syncer.announce_heads)
        await enter(self.syncer)
        await enter(self.directory)
        if (self.data_dir / RESTORED).exists():
            await self._recover_own()
        for feature in self.features:
            for make in feature.parts:
                part = await enter(make(self))
                self._parts[type(part)] = part
        ops = [Rpc(op=o.name, handler=functools.partial(o.handler, self), summary=o.summary)
               for f in self.features for o in f.operations]
        await enter(RpcServer(self.bus, self.store, self.ident, ops))
        await self._serve_http()

    async def _recover_own(self, wait: float = 30.0) -> None:
        """Restored from a backup: take back from the peers what this node wrote after it,
        before anything here writes again (a seq used twice would be equivocation)."""
        deadline = asyncio.get_running_loop().time() + wait
        while not self.directory.peers() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
        peers = self.directory.peers()
        if not peers:
            log.warning("node %s: restored, but no peer is online to give back what it wrote since the backup;"
                        " it will ask again at the next start", self.space)
            return
        got = await self.syncer.recover_own(peers)
        (self.data_dir / RESTORED).unlink(missing_ok=True)
        log.info("node %s: restored; %d records of its own came back from %s", self.space, got, ", ".join(peers))

    def _on_batch(self, result: BatchResult) -> None:
        if result.gaps:
            self.syncer.kick()

    async def _serve_http(self) -> None:
        routes = [*status.ROUTES, *(r for f in self.features for r in f.routes)]
        pages = [p for f in self.features for p in f.pages]
        templates = {f.name: f.templates for f in self.features if f.templates is not None}
        panels = [p for f in self.features for p in f.panels]
        app = make_app(self, routes, pages, templates, panels)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        h = self.config.http
        site = web.TCPSite(runner, h.host, h.port)
        try:
            await site.start()
        except OSError as e:
            raise ConfigError(
                f"cannot listen on {h.host}:{h.port} (http.port): {e.strerror or e}; "
                "is another node or program using that port?"
            ) from None
        port = runner.addresses[0][1]
        self.http_url = self.directory.http_url = f"http://{h.host}:{port}"
        run = {"pid": os.getpid(), "http_url": self.http_url, "nats_urls": self.nats_urls}
        (self.data_dir / RUN_FILE).write_text(json.dumps(run))
        log.info("node %s: serving %s (NATS %s)", self.space, self.http_url, ", ".join(self.nats_urls))

    async def refresh_gauges(self) -> None:
        self.metrics.outbox_backlog.set(await self.relay.backlog())
        self.metrics.pending.set(
            int(await self.store.scalar("SELECT count(*) FROM log WHERE state = 'pending'") or 0)
        )

    async def health(self) -> dict[str, Any]:
        s = self.store
        return {
            "space": self.space,
            "bus": self.bus.state,
            "outbox_backlog": await self.relay.backlog(),
            # pending: held behind a gap; the consumers: stream messages not yet fetched
            "replica_lag": {
                "pending": int(await s.scalar("SELECT count(*) FROM log WHERE state = 'pending'") or 0),
                **self.applier.lag,
            },
            "quarantined": int(await s.scalar("SELECT count(*) FROM quarantine") or 0),
            "alerts": int(await s.scalar("SELECT count(*) FROM alerts") or 0),
            "peers_online": sorted(self.directory.peers()),
        }
