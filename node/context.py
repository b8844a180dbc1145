"""What a feature sees of the running node: the kernel's parts, and its own parts by type.

Feature code (routes, background parts) is written against this protocol, never against
the Node that composes it (app/), so a feature package imports only the kernel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

from node.bus.connection import Bus
from node.config import Config
from node.federation.directory import Directory
from node.federation.identity import Identity
from node.metrics import Metrics
from node.store import Store

__all__ = ["Context"]

T = TypeVar("T")


class Context(Protocol):
    space: str
    data_dir: Path
    config: Config
    token: str
    store: Store
    ident: Identity
    metrics: Metrics
    bus: Bus
    directory: Directory

    def part(self, type_: type[T]) -> T:
        """A running part a feature started (say, the events feature's feed importer)."""
        ...

    async def health(self) -> dict[str, Any]:
        """Space id, bus state, outbox backlog, replica lag, peers online."""
        ...

    async def refresh_gauges(self) -> None:
        """Bring the metrics that are read from SQLite up to date (before /metrics)."""
        ...
