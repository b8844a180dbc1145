"""Fixtures that chain real nats-servers (STYLE 10): each fixture owns its teardown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from node.bus.cluster import NatsCluster
from node.bus.embedded import EmbeddedNats

CLUSTER_NAMES = ["kobe", "sapporo", "hakodate"]


@pytest_asyncio.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    """A started, healthy single nats-server with JetStream, stopped after the test."""
    async with EmbeddedNats(store_dir=tmp_path / "nats", name="kobe") as server:
        yield server


@pytest_asyncio.fixture
async def nats_cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    """Three healthy nats-servers in one JetStream cluster, stopped after the test."""
    async with NatsCluster(tmp_path / "cluster", CLUSTER_NAMES) as cluster:
        yield cluster
