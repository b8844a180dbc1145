"""deploy/ holds server configs that nats-server itself accepts."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import nats
import pytest
import pytest_asyncio
from nats.js.api import AckPolicy, ConsumerConfig

from node.bus import stream_config
from node.embedded_nats import find_binary
from tests.eventually import eventually
from tests.net import free_port
from tests.spaces import Space

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@pytest.mark.parametrize("conf", sorted(DEPLOY.rglob("*.conf")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_nats_server_accepts_the_config(conf: Path) -> None:
    """`nats-server -t` parses every config we ship (with its placeholders filled in)."""
    r = subprocess.run(
        [find_binary(), "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30,
        env={"KOBE_PASSWORD": "s3cret", "HUB_LEAF_URL": "nats-leaf://kobe:s3cret@hub.example.jp:7422"},
    )
    assert r.returncode == 0, r.stdout + r.stderr


@asynccontextmanager
async def _server(conf: str, path: Path, http: int, env: dict[str, str]) -> AsyncIterator[None]:
    path.write_text(conf)
    proc = await asyncio.create_subprocess_exec(
        find_binary(), "-c", str(path), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    try:
        async def healthy() -> bool:
            async with aiohttp.ClientSession() as client:
                async with client.get(f"http://127.0.0.1:{http}/healthz") as r:
                    return r.status == 200

        await eventually(healthy, timeout=20)
        yield
    finally:
        proc.terminate()
        await proc.wait()


@pytest_asyncio.fixture
async def region(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """deploy/leaf as shipped, on loopback: the hub (hub.conf, its kobe user and allow-list,
    plus an admin who plays the hub operator making stream HITODE) and kobe's own server
    as its leaf (leaf.conf). Yields (hub admin URL, kobe's leaf URL)."""
    hub_port, hub_leaf, hub_http = free_port(), free_port(), free_port()
    leaf_port, leaf_http = free_port(), free_port()
    hub_conf = ((DEPLOY / "leaf" / "hub.conf").read_text()
                .replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{hub_port}")
                .replace("http: 127.0.0.1:8222", f"http: 127.0.0.1:{hub_http}")
                .replace("listen: 0.0.0.0:7422", f"listen: 127.0.0.1:{hub_leaf}")
                .replace("/var/lib/hitode/hub", str(tmp_path / "hub"))
                .replace("  users: [\n", "  users: [\n    { user: admin, password: admin }\n", 1))
    leaf_conf = ((DEPLOY / "leaf" / "leaf.conf").read_text()
                 .replace("listen: 127.0.0.1:4222", f"listen: 127.0.0.1:{leaf_port}")
                 .replace("http: 127.0.0.1:8222", f"http: 127.0.0.1:{leaf_http}")
                 .replace("/var/lib/hitode/nats", str(tmp_path / "leaf")))
    async with _server(hub_conf, tmp_path / "hub.conf", hub_http, {"KOBE_PASSWORD": "s3cret"}):
        leaf_env = {"HUB_LEAF_URL": f"nats-leaf://kobe:s3cret@127.0.0.1:{hub_leaf}"}
        async with _server(leaf_conf, tmp_path / "leaf.conf", leaf_http, leaf_env):
            yield f"nats://127.0.0.1:{hub_port}", f"nats://127.0.0.1:{leaf_port}"


async def test_a_node_on_its_leaf_does_its_work_with_only_the_hub_allow_list(
    tmp_path: Path, region: tuple[str, str]
) -> None:
    """Kobe's node talks to its own leaf server (domain hub), which reaches the hub as user
    `kobe` with only the rights hub.conf grants: the node publishes, makes its consumers
    (again, when one was changed by hand), consumes and acks, and nothing is refused."""
    hub, leaf = region
    admin = await nats.connect(hub, user="admin", password="admin")
    try:
        jsm = admin.jsm()
        await jsm.add_stream(dataclasses.replace(
            stream_config(1), subjects=["hitode.pub.*.kobe", "hitode.dm.*.*.kobe"]))
        await jsm.add_consumer("HITODE", ConsumerConfig(
            name="kobe-pub", durable_name="kobe-pub", filter_subject="hitode.pub.*.nobody",
            ack_policy=AckPolicy.EXPLICIT))

        kobe = Space(tmp_path / "kobe", "kobe", leaf)
        cfg = kobe.dir / "config.toml"
        cfg.write_text(cfg.read_text().replace('domain = ""', 'domain = "hub"'))
        await kobe.start()
        try:
            await eventually(lambda: _bus(kobe, "connected"), timeout=20)
            await kobe.put("/api/space", {"hours": "9-21"})
            await eventually(lambda: _backlog_zero(kobe), timeout=20)
            last = await jsm.get_last_msg("HITODE", "hitode.pub.space.kobe")
            assert last.data  # kobe's own record, on the hub's stream

            async def consumed() -> bool:
                info = await jsm.consumer_info("HITODE", "kobe-pub")
                return (info.config.filter_subject == "hitode.pub.>"
                        and info.ack_floor is not None and info.ack_floor.stream_seq == last.seq)

            await eventually(consumed, timeout=20)
            assert (await jsm.consumer_info("HITODE", "kobe-dm")).config.filter_subject == "hitode.dm.kobe.>"
        finally:
            await kobe.close()
        log = (kobe.dir / "node.log").read_text()
        assert "refused" not in log.lower(), log
    finally:
        await admin.close()


async def _bus(space: Space, state: str) -> bool:
    return bool((await space.get("/healthz"))["bus"] == state)


async def _backlog_zero(space: Space) -> bool:
    return bool((await space.get("/healthz"))["outbox_backlog"] == 0)
