"""Three spaces on three hosts (network namespaces with their own addresses), each with its
own nats-server from `hitode nats-config` (a hub cluster over TLS routes) and its own node:
records propagate, a host cut off keeps serving and queues its writes while the others go
on, and all converge when its link is back; strangers and spaces outside their allow-list
are refused; a fourth space joins by invitation as a leaf; a space restored from a backup
catches up. The scenarios run in order on one federation (they take about a minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nats
import nats.errors
import pytest
import pytest_asyncio

from node.config import load_config
from node.ops import pki
from node.ops.natsconf import ADMIN, CONF_FILE
from node.ops.spec import load_spec
from tests.deploy.hosts import Lan, Server, can_make_hosts, hitode
from tests.eventually import eventually
from tests.spaces import Space, converged

pytestmark = [
    pytest.mark.skipif(can_make_hosts() is not None, reason=str(can_make_hosts())),
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(100),
]

HUB = ("kobe", "sapporo", "hakodate")


@dataclass
class Federation:
    base: Path
    lan: Lan
    spaces: dict[str, Space] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)

    def admin_url(self, name: str) -> tuple[str, str]:
        return f"nats://{self.lan[name].address}:4222", load_spec(self.base / name).admin_password

    async def start_server(self, name: str) -> None:
        server = self.servers[name] = Server(self.lan[name], self.base / name / CONF_FILE,
                                             self.base / name / "nats-stdout.log")
        await server.start()

    async def healthy(self, name: str, timeout: float = 30) -> None:
        async def check() -> bool:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://{self.lan[name].address}:8222/healthz") as r:
                    return r.status == 200

        await eventually(check, timeout=timeout, interval=0.2)


def _space(base: Path, lan: Lan, name: str) -> Space:
    return Space(base / name, name, "nats://127.0.0.1:4222", http_host=lan[name].local, prefix=lan[name].prefix)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Federation]:
    base = tmp_path_factory.mktemp("hosts")
    with Lan([*HUB, "osaka"]) as lan:
        f = Federation(base, lan)
        try:
            for name in HUB:
                f.spaces[name] = _space(base, lan, name)
            ca = base / "kobe" / "ca"  # kobe keeps the CA, and so admits joins
            hitode(None, "ca", "init", "--ca", ca)
            for name in HUB:
                host = lan[name]
                hitode(None, "ca", "issue", "--ca", ca, "--dir", base / name, "--host", host.address)
                members = [f"--member={m}={lan[m].address}" for m in HUB if m != name]
                join = ["--join-address", f"{host.address}:7480"] if name == "kobe" else []
                hitode(None, "nats-config", "--dir", base / name, "--topology", "hub", "--address", host.address,
                       "--client-address", "0.0.0.0", "--monitor-address", "0.0.0.0", *members, *join)
            await asyncio.gather(*(f.start_server(n) for n in HUB))
            await asyncio.gather(*(f.healthy(n) for n in HUB))
            hitode(lan["kobe"], "nats-stream", "--dir", base / "kobe")
            await asyncio.gather(*(s.start() for s in f.spaces.values()))
            yield f
        finally:
            await asyncio.gather(*(s.close() for s in f.spaces.values()), return_exceptions=True)
            await asyncio.gather(*(s.stop() for s in f.servers.values()), return_exceptions=True)


async def _hours(space: Space, of: str, want: str) -> bool:
    with contextlib.suppress(Exception):
        return bool((await space.get(f"/api/spaces/{of}")).get("hours") == want)
    return False


async def _replicas(f: Federation) -> dict[str, int]:
    """How many replicas each node's consumers have, as the hub's admin sees it."""
    url, password = f.admin_url("kobe")
    nc = await nats.connect(url, user=ADMIN, password=password, allow_reconnect=False)
    try:
        jsm = nc.jsm(prefix="$JS.hub.API")
        out = {}
        for name in f.spaces:
            for c in (f"{name}-pub", f"{name}-dm"):
                info = await jsm.consumer_info("HITODE", c)
                out[c] = info.config.num_replicas or 0
        return out
    finally:
        await nc.close()


async def test_records_propagate_and_a_host_cut_off_keeps_serving_then_all_converge(fed: Federation) -> None:
    """A profile change at kobe reaches the other hosts. Then one host's link goes down:
    it still answers its operator and keeps its write in the outbox; the other two go on;
    when the link is back everything converges, the cut host's write included."""
    kobe, sapporo, hakodate = (fed.spaces[n] for n in HUB)
    await kobe.put("/api/space", {"hours": "9-21"})
    await eventually(lambda: _hours(hakodate, "kobe", "9-21"), timeout=20)
    await converged(list(fed.spaces.values()))

    # Every node's consumers have the stream's three replicas: a server cut off takes no
    # other space's consumer with it.
    assert set((await _replicas(fed)).values()) == {3}
    cut = "hakodate"
    alone = fed.spaces[cut]
    others = [fed.spaces[n] for n in HUB if n != cut]

    fed.lan[cut].cut()
    try:
        await alone.put("/api/space", {"hours": "cut off but open"})
        assert (await alone.get(f"/api/spaces/{cut}"))["hours"] == "cut off but open"
        health = await alone.get("/healthz")
        assert health["outbox_backlog"] >= 1, health
        await others[0].put("/api/space", {"hours": "while one is away"})
        await eventually(lambda: _hours(others[1], others[0].id, "while one is away"), timeout=30)
        assert not await _hours(others[0], cut, "cut off but open")
    finally:
        fed.lan[cut].mend()
    await eventually(lambda: _hours(others[0], cut, "cut off but open"), timeout=60, interval=0.3)
    await eventually(lambda: _hours(alone, others[0].id, "while one is away"), timeout=60, interval=0.3)
    await converged(list(fed.spaces.values()), timeout=60)
