"""A feature written from the tests folder alone plugs into the node and federates.

"Kudos" is a toy capability: a space thanks another in public. It brings a record kind
(with its body rule and a reaction when one is applied), a migration, two routes and a
running part, all declared in one `Feature`, and nothing under node/ is edited for it:
two nodes composed with it exchange kudos over a real nats-server, and the recipient's
reaction records each one once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any

import aiohttp
import msgspec
from aiohttp import web

from node.app.features import DEFAULT
from node.app.node import Node
from node.app.setup import init_space
from node.bus.embedded import EmbeddedNats
from node.config import load_config
from node.context import Context
from node.errors import BadInput
from node.feature import Feature
from node.federation import outbox
from node.federation.identity import Identity
from node.federation.kinds import Kind
from node.store import Tx
from node.web.payload import decode_body, json_response
from node.web.route import Route
from schemas.envelope import Header
from schemas.ids import SpaceId
from tests.eventually import eventually


class Kudos(msgspec.Struct, frozen=True, kw_only=True, tag="kudos"):
    to: SpaceId
    text: Annotated[str, msgspec.Meta(max_length=200)]


class KudosInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    to: SpaceId
    text: str


def check(h: Header, body: msgspec.Struct, signer: bytes) -> None:
    assert isinstance(body, Kudos)
    if not body.text.strip():
        raise BadInput("kudos need words", field="text")


def received(tx: Tx, ident: Identity, h: Header, body: msgspec.Struct, box_key: bytes) -> None:
    """The reaction, in the apply transaction: count kudos addressed to this space."""
    assert isinstance(body, Kudos)
    if body.to == ident.space:
        tx.execute("INSERT INTO toy_kudos (record_id, sender, text) VALUES (?, ?, ?)", (h.record_id, h.author, body.text))


async def send(ctx: Context, request: web.Request) -> web.Response:
    inp = await decode_body(request, KudosInput)
    rid = outbox.new_id()
    body = Kudos(to=inp.to, text=inp.text)
    await ctx.store.transact(lambda tx: outbox.append(tx, ctx.ident, kind="kudos", record_id=rid, version=1, body=body))
    return json_response({"id": rid}, status=201)


async def listing(ctx: Context, request: web.Request) -> web.Response:
    rows = await ctx.store.all("SELECT sender, text FROM toy_kudos ORDER BY rowid")
    return json_response({"kudos": [dict(r) for r in rows], "polls": ctx.part(Poller).started})


class Poller:
    """A running part: entered after the kernel, left before it."""

    def __init__(self) -> None:
        self.started = 0

    async def __aenter__(self) -> Poller:
        self.started += 1
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        pass


TOY = Feature(
    name="toy_kudos",
    kinds=(Kind(name="kudos", body=Kudos, check=check, on_apply=received),),
    routes=(Route(method="POST", path="/api/kudos", handler=send, summary="Thank a space", body=KudosInput),
            Route(method="GET", path="/api/kudos", handler=listing, summary="Kudos this space received")),
    migrations=("CREATE TABLE toy_kudos (record_id TEXT PRIMARY KEY, sender TEXT NOT NULL, text TEXT NOT NULL);",),
    parts=(lambda ctx: Poller(),),
)


@contextlib.asynccontextmanager
async def node_with_kudos(base: Path, space: str, nats_url: str) -> AsyncIterator[Node]:
    init_space(base / space, space=space, name=space.title(), http_port=0, nats_urls=[nats_url])
    async with Node(base / space, load_config(base / space), features=(*DEFAULT, TOY)) as node:
        yield node


async def test_a_feature_from_the_tests_folder_federates_between_two_nodes(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """kobe thanks sapporo through the toy feature's route; sapporo's reaction records it once; a blank one is refused at sapporo."""
    async with node_with_kudos(tmp_path, "kobe", nats_server.client_url) as kobe, \
            node_with_kudos(tmp_path, "sapporo", nats_server.client_url) as sapporo, \
            aiohttp.ClientSession() as http:

        async def call(node: Node, method: str, path: str, body: Any = None) -> Any:
            async with http.request(method, node.http_url + path, json=body,
                                    headers={"Authorization": f"Bearer {node.token}"}) as r:
                assert r.status < 300, await r.text()
                return await r.json()

        await call(kobe, "POST", "/api/kudos", {"to": "sapporo", "text": "ありがとう、札幌!"})

        async def arrived() -> list[Any]:
            got: list[Any] = (await call(sapporo, "GET", "/api/kudos"))["kudos"]
            return got

        assert await eventually(arrived) == [{"sender": "kobe", "text": "ありがとう、札幌!"}]
        assert (await call(sapporo, "GET", "/api/kudos"))["polls"] == 1
        # kobe's own kudos to sapporo is not for kobe: its reaction records nothing there
        assert (await call(kobe, "GET", "/api/kudos"))["kudos"] == []

        # A blank kudos signed by kobe's real key: the feature's own body rule refuses it.
        await kobe.store.transact(lambda tx: outbox.append(
            tx, kobe.ident, kind="kudos", record_id="blank", version=1, body=Kudos(to="sapporo", text="  ")))

        async def refused() -> list[str]:
            rows = await sapporo.store.all("SELECT reason FROM quarantine WHERE author = 'kobe'")
            return [r[0] for r in rows]

        assert (await eventually(refused))[0].startswith("bad_body: kudos text: kudos need words")
        assert len(await arrived()) == 1
        doc = await call(kobe, "GET", "/openapi.json")
        assert "/api/kudos" in doc["paths"]
