"""node.pull against a real nats-server: order, flow past max_ack_pending, idleness, endings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import nats
import nats.js
import pytest
import pytest_asyncio
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from node.bus.embedded import EmbeddedNats
from node.bus.pull import Pull, PullEnded


@pytest_asyncio.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_server.client_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = client.jsm()
    await js.add_stream(StreamConfig(name="T", subjects=["t.>"]))
    await js.add_consumer(
        "T",
        ConsumerConfig(name="c", durable_name="c", filter_subject="t.>", ack_policy=AckPolicy.EXPLICIT, max_ack_pending=20),
    )
    yield client
    await client.close()


async def _publish(client: NatsClient, n: int) -> None:
    js = client.jetstream()
    await asyncio.gather(*(js.publish(f"t.{i}", str(i).encode()) for i in range(n)))


async def test_every_message_arrives_once_in_order_past_max_ack_pending(nc: NatsClient) -> None:
    await _publish(nc, 137)
    got: list[int] = []
    async with Pull(nc, "$JS.API", "T", "c", batch=10) as pull:
        while len(got) < 137:
            msgs = await asyncio.wait_for(pull.take(7), timeout=10)
            assert 1 <= len(msgs) <= 7
            for m in msgs:
                got.append(int(m.data))
                await m.ack()
    assert got == list(range(137))
    info = await nc.jsm().consumer_info("T", "c")
    assert info.num_pending == 0


async def test_a_message_published_later_wakes_a_waiting_take(nc: NatsClient) -> None:
    async with Pull(nc, "$JS.API", "T", "c", batch=10, heartbeat=1.0) as pull:
        waiting = asyncio.create_task(pull.take(10))
        await asyncio.sleep(1.5)  # heartbeats keep it waiting, not ended (silence is 3 s)
        assert not waiting.done()
        await _publish(nc, 1)
        msgs = await asyncio.wait_for(waiting, timeout=5)
        assert [m.data for m in msgs] == [b"0"]


async def test_heartbeats_tell_an_idle_consumer(nc: NatsClient) -> None:
    idle = asyncio.Event()
    async with Pull(nc, "$JS.API", "T", "c", batch=10, heartbeat=0.3, on_idle=idle.set) as pull:
        waiting = asyncio.create_task(pull.take(10))
        await asyncio.wait_for(idle.wait(), timeout=5)
        waiting.cancel()


async def test_a_deleted_consumer_ends_the_pull(nc: NatsClient) -> None:
    async with Pull(nc, "$JS.API", "T", "c", batch=10) as pull:
        waiting = asyncio.create_task(pull.take(10))
        await asyncio.sleep(0.3)
        await nc.jsm().delete_consumer("T", "c")
        with pytest.raises(PullEnded, match="409 Consumer Deleted"):
            await asyncio.wait_for(waiting, timeout=5)


async def test_a_stopped_server_ends_the_pull_by_silence(nc: NatsClient, nats_server: EmbeddedNats) -> None:
    async with Pull(nc, "$JS.API", "T", "c", batch=10, heartbeat=0.3) as pull:
        waiting = asyncio.create_task(pull.take(10))
        await asyncio.sleep(0.5)
        await nats_server.kill()
        with pytest.raises(PullEnded, match="no heartbeat"):
            await asyncio.wait_for(waiting, timeout=10)


async def test_a_consumer_that_caps_requests_is_asked_for_less(nc: NatsClient) -> None:
    """A consumer (or a server) that allows 5 messages a request answers a request for 10
    with 409; the pull asks for 5 from then on and misses nothing."""
    # nats-py's ConsumerConfig has no max_batch: the plain API request
    config = {"name": "capped", "durable_name": "capped", "filter_subject": "t.>",
              "ack_policy": "explicit", "max_batch": 5}
    reply = await nc.request("$JS.API.CONSUMER.CREATE.T.capped",
                             json.dumps({"stream_name": "T", "config": config}).encode(), timeout=30)
    assert "error" not in json.loads(reply.data), reply.data
    await _publish(nc, 23)
    got: list[int] = []
    async with Pull(nc, "$JS.API", "T", "capped", batch=10) as pull:
        while len(got) < 23:
            for m in await asyncio.wait_for(pull.take(10), timeout=10):
                got.append(int(m.data))
                await m.ack()
    assert got == list(range(23))
