"""A feature declares a JetStream stream of its own (`Feature.streams`) and the node's bus
makes it once HITODE is there; a stream the node may not make never holds the node back."""

from __future__ import annotations

from pathlib import Path

import nats
from nats.js.api import StreamConfig

from node.app.features import DEFAULT
from node.app.node import Node
from node.app.setup import init_space
from node.bus.embedded import EmbeddedNats
from node.config import load_config
from node.feature import Feature
from tests.eventually import eventually


def toys(replicas: int) -> StreamConfig:
    return StreamConfig(name="TOYS", subjects=["toy.>"], num_replicas=replicas, max_msgs_per_subject=1)


def clashing(replicas: int) -> StreamConfig:
    # the same subjects as HITODE: the server refuses it, as it would a stream the node may not make
    return StreamConfig(name="CLASH", subjects=["hitode.pub.>"], num_replicas=replicas)


async def test_a_features_stream_is_made_when_the_bus_connects_and_a_refused_one_does_not_stop_the_node(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    init_space(tmp_path / "kobe", space="kobe", name="Kobe", http_port=0, nats_urls=[nats_server.client_url])
    toy = Feature(name="toy_streams", streams=(clashing, toys))
    async with Node(tmp_path / "kobe", load_config(tmp_path / "kobe"), features=(*DEFAULT, toy)) as node:
        await eventually(lambda: node.bus.ready, timeout=20)
        nc = await nats.connect(nats_server.client_url)
        try:
            async def made() -> bool:
                info = await nc.jsm().stream_info("TOYS")
                return info.config.max_msgs_per_subject == 1

            assert await eventually(made, timeout=20)
            names = {s.config.name for s in await nc.jsm().streams_info()}
            assert "CLASH" not in names and {"HITODE", "TICKETS"} <= names
        finally:
            await nc.close()
