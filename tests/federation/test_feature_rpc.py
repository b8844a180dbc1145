"""A feature's request/reply op: declared in its `Feature`, served by the node, signed both ways.

A toy "echo" op on two real nodes over a real nats-server: kobe asks sapporo and gets
sapporo's signed answer; a caller whose key sapporo has not pinned is refused; a handler's
error travels back as a refusal; a space nobody serves for answers None within the timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import nats
import pytest
from nats.aio.msg import Msg

from node.app.features import DEFAULT
from node.app.node import Node
from node.app.setup import init_space
from node.bus.embedded import EmbeddedNats
from node.config import load_config
from node.context import Context
from node.errors import Invalid, Rejected
from node.feature import Feature, Operation
from node.federation.identity import Identity, open_call
from node.federation.rpc import ANSWER_TAG, Answer, Refused, call
from tests.eventually import eventually


class Ping(msgspec.Struct, frozen=True, kw_only=True):
    text: str


class Pong(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    caller: str
    by: str


async def echo(ctx: Context, caller: str, body: bytes) -> Pong:
    ping = msgspec.msgpack.decode(body, type=Ping)
    if not ping.text:
        raise Invalid("nothing to echo", field="text")
    return Pong(text=ping.text, caller=caller, by=ctx.space)


TOY = Feature(name="toy_echo", operations=(Operation(name="echo", handler=echo, summary="say it back"),))


@contextlib.asynccontextmanager
async def node(base: Path, space: str, nats_url: str) -> AsyncIterator[Node]:
    init_space(base / space, space=space, name=space.title(), http_port=0, nats_urls=[nats_url])
    async with Node(base / space, load_config(base / space), features=(*DEFAULT, TOY)) as n:
        yield n


async def test_kobe_asks_sapporo_over_a_feature_op_and_gets_its_signed_answer(
        tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """The op answers the pinned caller; errors and strangers are refused; silence is None."""
    async with node(tmp_path, "kobe", nats_server.client_url) as kobe, \
            node(tmp_path, "sapporo", nats_server.client_url) as sapporo:

        async def pinned() -> bool:
            return await sapporo.store.scalar("SELECT 1 FROM pins WHERE space = 'kobe'") is not None and \
                await kobe.store.scalar("SELECT 1 FROM pins WHERE space = 'sapporo'") is not None

        await eventually(pinned, timeout=30)

        async def answered() -> Pong | None:
            return await call(kobe.bus, kobe.store, kobe.ident, "sapporo", "echo", Ping(text="やあ"), Pong)

        assert await eventually(answered, timeout=20) == Pong(text="やあ", caller="kobe", by="sapporo")

        # sapporo's own, verified "no" is a refusal, told apart from silence (None).
        with pytest.raises(Refused, match="nothing to echo"):
            await call(kobe.bus, kobe.store, kobe.ident, "sapporo", "echo", Ping(text=""), Pong)

        # Someone signing as kobe with another key: sapporo holds kobe's real key.
        impostor = Identity.generate("kobe")
        with pytest.raises(Rejected, match="pinned key"):
            await call(kobe.bus, kobe.store, impostor, "sapporo", "echo", Ping(text="x"), Pong)

        # Nobody serves hakodate: no answer within the timeout.
        assert await call(kobe.bus, kobe.store, kobe.ident, "hakodate", "echo", Ping(text="x"), Pong,
                          timeout=0.5) is None


async def test_a_request_copied_off_the_bus_is_sealed_and_sent_again_is_refused(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """Anyone on the hub sees kobe's signed request and the reply, but not what they say; sending the
    request again gets a signed refusal, not a second answer."""
    async with node(tmp_path, "kobe", nats_server.client_url) as kobe, \
            node(tmp_path, "sapporo", nats_server.client_url) as sapporo:

        async def pinned() -> bool:
            return await sapporo.store.scalar("SELECT 1 FROM pins WHERE space = 'kobe'") is not None and \
                await kobe.store.scalar("SELECT 1 FROM pins WHERE space = 'sapporo'") is not None

        await eventually(pinned, timeout=30)
        seen: list[Msg] = []
        nc = await nats.connect(nats_server.client_url)
        try:
            async def tap(msg: Msg) -> None:
                seen.append(msg)

            everything: list[bytes] = []

            async def tap_all(msg: Msg) -> None:
                everything.append(msg.data)

            await nc.subscribe("hitode.rpc.sapporo.echo", cb=tap)
            await nc.subscribe(">", cb=tap_all)  # requests and the replies to their inboxes
            await nc.flush()

            async def answered() -> Pong | None:
                return await call(kobe.bus, kobe.store, kobe.ident, "sapporo", "echo", Ping(text="一度"), Pong)

            assert (await eventually(answered, timeout=20)).text == "一度"
            await eventually(lambda: _some(seen), timeout=10)
            copied = seen[-1]
            assert copied.reply
            sub = await nc.subscribe(copied.reply, max_msgs=1)
            await nc.publish(copied.subject, copied.data, reply=copied.reply)
            again, _ = open_call((await sub.next_msg(timeout=10)).data, ANSWER_TAG, Answer)
            assert again.sealed == b"" and "answered already" in again.error
            # Both ways the body was sealed: the text was on the bus in no message.
            assert everything and not [d for d in everything if "一度".encode() in d]
        finally:
            await nc.close()


async def _some(xs: list[Msg]) -> bool:
    return bool(xs)
