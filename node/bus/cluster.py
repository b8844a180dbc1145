"""Several nats-server processes joined in one JetStream cluster on loopback.

``NatsCluster`` owns a group of ``EmbeddedNats`` and the cluster ports that join them;
``hitode demo`` and the federation tests run their spaces on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from node.bus.embedded import LOOPBACK, EmbeddedNats

__all__ = ["NatsCluster"]

logger = logging.getLogger(__name__)


def _reserve_ports(n: int) -> list[int]:
    """``n`` free loopback ports from the kernel, all held at once so they differ."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind((LOOPBACK, 0))
        return [s.getsockname()[1] for s in socks]


class NatsCluster:
    """Several EmbeddedNats joined in one JetStream cluster on loopback.

    Each member routes to every other (a full mesh) on cluster ports reserved up front.
    Starting a seed on a random port and pointing the others at it cannot work:
    nats-server will not run clustered JetStream without configured routes ("JetStream
    cluster requires configured routes or solicited leafnode for the system account").
    The mesh also lets any member, the first included, rejoin when restarted alone.
    """

    _ATTEMPTS = 3  # someone may take a reserved port before the server binds it

    def __init__(self, base_dir: Path, names: Sequence[str], cluster_name: str = "hitode",
                 binary: str | None = None) -> None:
        if len(names) < 2 or len(set(names)) != len(names):
            # a lone clustered JetStream server waits for routes forever: use EmbeddedNats
            raise ValueError(f"a cluster needs two or more distinct names, got {names}")
        self.base_dir = Path(base_dir)
        self.names = list(names)
        self.cluster_name = cluster_name
        self._binary = binary
        self.servers: list[EmbeddedNats] = []

    def __getitem__(self, name: str) -> EmbeddedNats:
        return {s.name: s for s in self.servers}[name]

    def _members(self) -> list[EmbeddedNats]:
        ports = _reserve_ports(len(self.names))
        urls = [f"nats-route://{LOOPBACK}:{p}" for p in ports]
        return [
            EmbeddedNats(
                store_dir=self.base_dir / name, name=name, binary=self._binary,
                cluster_name=self.cluster_name, cluster_port=port,
                routes=[u for u in urls if u != own],
            )
            for name, port, own in zip(self.names, ports, urls)
        ]

    async def start(self) -> None:
        """Start every member, then wait until all are healthy (a meta leader exists)."""
        for attempt in range(1, self._ATTEMPTS + 1):
            self.servers = self._members()
            # let every start finish before stopping any, so no half-started one is left
            results = await asyncio.gather(*(s.start() for s in self.servers),
                                           return_exceptions=True)
            error = next((r for r in results if isinstance(r, BaseException)), None)
            if error is None:
                break
            await self.stop()
            if attempt == self._ATTEMPTS or "address already in use" not in str(error):
                raise error
            logger.warning("a reserved cluster port was taken; retrying with new ones")
        try:
            await asyncio.gather(*(s.wait_healthy() for s in self.servers))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop all members at once, so their stop timeouts do not add up."""
        results = await asyncio.gather(*(s.stop() for s in self.servers),
                                       return_exceptions=True)
        for server, result in zip(self.servers, results):
            if isinstance(result, BaseException):
                logger.warning("stopping nats-server %s failed: %r", server.name, result)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
