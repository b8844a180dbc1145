"""The server behaviour single use rests on, pinned against the nats-server this project ships.

`Nats-Expected-Last-Subject-Sequence` takes the *stream* sequence of the subject's last
message, and nats-server issue 7361 (open) reports it checked against the stream's last
sequence instead. What hitode needs is narrower and pinned here: with other subjects
already in the stream, the first message on a new subject with the header set to 0 is
accepted, and a second is refused; and `discard_new_per_subject` refuses a second message
on a subject even without the header. If an upgrade changes either, these tests say so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import nats.js.errors
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.js.api import Header

from node.bus.cluster import NatsCluster
from node.bus.embedded import EmbeddedNats
from node.tickets.ledger import is_taken
from node.tickets.stream import STREAM, stream_config, subject

A, B, C = (f"0190a0b0-0000-7000-8000-00000000000{i}" for i in (1, 2, 3))


@pytest_asyncio.fixture
async def client(nats_server: EmbeddedNats) -> AsyncIterator[Client]:
    nc = await nats.connect(nats_server.client_url)
    await nc.jsm().add_stream(stream_config(1))
    yield nc
    await nc.close()


def first() -> dict[str, str]:
    return {Header.EXPECTED_LAST_SUBJECT_SEQUENCE: "0"}


async def test_expected_subject_sequence_zero_takes_the_first_message_on_a_new_subject_among_others(client: Client) -> None:
    """Two other tickets are already in the stream (stream sequence 2): a first redemption of a third ticket with expected
    last subject sequence 0 is stored, the second is refused with "wrong last sequence", and the first stays."""
    js = client.jetstream()
    await js.publish(subject(A), b"a", headers=first())
    await js.publish(subject(B), b"b", headers=first())
    ack = await js.publish(subject(C), b"first", headers=first())
    assert ack.seq == 3
    with pytest.raises(nats.js.errors.APIError) as refused:
        await js.publish(subject(C), b"second", headers=first())
    assert refused.value.err_code == 10071, refused.value
    assert is_taken(refused.value)
    kept = await client.jsm().get_msg(STREAM, subject=subject(C), direct=True)
    assert kept.data == b"first" and kept.seq == 3


async def test_discard_new_per_subject_refuses_a_second_message_without_the_header(client: Client) -> None:
    """Without any expectation header, a second message on a ticket's subject is refused by the stream's limits
    ("maximum messages per subject exceeded", err_code 10077 with status 503), and the first one stays."""
    js = client.jetstream()
    await js.publish(subject(A), b"first")
    with pytest.raises(nats.js.errors.APIError) as refused:
        await js.publish(subject(A), b"second")
    assert refused.value.err_code == 10077, refused.value
    assert is_taken(refused.value)
    kept = await client.jsm().get_msg(STREAM, subject=subject(A), direct=True)
    assert kept.data == b"first"
    info = await client.jsm().stream_info(STREAM)
    assert info.state.messages == 1


async def test_the_same_attempt_sent_again_is_refused_and_read_back_shows_it_won(client: Client) -> None:
    """A retry of an attempt whose ack was lost (same Nats-Msg-Id, expected last subject sequence 0) is not taken as a
    duplicate: the expectation is checked first, and it is refused with "wrong last sequence". So a refusal alone never
    means "someone else": the subject is read back, and here the stored message is the attempt's own."""
    js = client.jetstream()
    h = {**first(), Header.MSG_ID: "attempt-1"}
    one = await js.publish(subject(A), b"x", headers=dict(h))
    assert one.seq == 1
    with pytest.raises(nats.js.errors.APIError) as refused:
        await js.publish(subject(A), b"x", headers=dict(h))
    assert is_taken(refused.value)
    kept = await client.jsm().get_msg(STREAM, subject=subject(A), direct=True)
    assert kept.headers is not None and kept.headers[Header.MSG_ID] == "attempt-1"
    assert (await client.jsm().stream_info(STREAM)).state.messages == 1


async def test_the_same_holds_on_a_three_server_cluster(nats_cluster: NatsCluster) -> None:
    """On R3 (as the federation runs it), through a different server for each publish: first accepted, second refused."""
    clients = [await nats.connect(s.client_url) for s in nats_cluster.servers]
    try:
        await clients[0].jsm().add_stream(stream_config(3))
        await clients[0].jetstream().publish(subject(A), b"other", headers=first())
        await clients[1].jetstream().publish(subject(B), b"first", headers=first())
        with pytest.raises(nats.js.errors.APIError) as refused:
            await clients[2].jetstream().publish(subject(B), b"second", headers=first())
        assert is_taken(refused.value)
        kept = await clients[2].jsm().get_msg(STREAM, subject=subject(B), direct=True)
        assert kept.data == b"first"
    finally:
        for nc in clients:
            await nc.close()
