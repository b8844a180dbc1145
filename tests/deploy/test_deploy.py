"""deploy/ holds the configs `hitode nats-config` writes, nats-server takes them, and a hand-written
region (a hub and two leaves on loopback) still works."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
import pytest_asyncio
from nats.js.api import AckPolicy, ConsumerConfig

from node.bus.binary import find_binary
from node.bus.connection import stream_config
from node.ops import examples, pki
from node.ops.examples import EXAMPLES
from node.ops.natsconf import write_conf
from tests.eventually import eventually
from tests.net import free_port
from tests.spaces import HttpError, Space, converged

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# A hub and its leaves written by hand, as the first regions were: the node must keep
# working with them (the allow-list, repair over RPC across leaves, a wrong password).
REGION = Path(__file__).resolve().parent / "region"


@pytest.mark.parametrize("topology", sorted(EXAMPLES))
def test_the_shipped_examples_are_what_nats_config_writes(topology: str) -> None:
    """deploy/<topology>/nats-server.conf is the generator's own output (`python -m node.ops.examples`)."""
    assert (DEPLOY / topology / "nats-server.conf").read_text(encoding="utf-8") == examples.text(topology), \
        "stale: run `python -m node.ops.examples`"


@pytest.mark.parametrize("topology", sorted(EXAMPLES))
def test_nats_server_accepts_the_generated_config(topology: str, tmp_path: Path) -> None:
    """`nats-server -t` takes what `hitode nats-config` writes, certificates in place."""
    pki.init_ca(tmp_path / "ca")
    pki.issue(tmp_path / "ca", tmp_path / "tls", name="kobe", hosts=["10.0.0.1"])
    conf = write_conf(EXAMPLES[topology], tmp_path)
    r = subprocess.run([find_binary(), "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("conf", sorted(REGION.rglob("*.conf")), ids=lambda p: p.name)
def test_nats_server_accepts_the_config(conf: Path) -> None:
    """`nats-server -t` parses the hand-written region's configs (placeholders filled in)."""
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


SPACES = ("kobe", "sapporo")


def _hub_conf(hub_port: int, hub_leaf: int, hub_http: int, store: Path) -> str:
    """hub.conf as shipped, on loopback, with kobe's user copied for sapporo (what the hub
    operator does for each space that joins) and an admin who makes stream HITODE."""
    conf = (REGION / "hub.conf").read_text()
    head, rest = conf.split("  users: [\n", 1)
    kobe_user, tail = rest.split("\n  ]\n", 1)
    sapporo_user = kobe_user.replace("kobe", "sapporo").replace("KOBE_", "SAPPORO_")
    conf = f"{head}  users: [\n    {{ user: admin, password: admin }}\n{kobe_user}\n{sapporo_user}\n  ]\n{tail}"
    return (conf.replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{hub_port}")
                .replace("http: 127.0.0.1:8222", f"http: 127.0.0.1:{hub_http}")
                .replace("listen: 0.0.0.0:7422", f"listen: 127.0.0.1:{hub_leaf}")
                .replace("/var/lib/hitode/hub", str(store)))


def _leaf_conf(space: str, port: int, http: int, store: Path) -> str:
    """leaf.conf as shipped (written for kobe), for `space`, on loopback."""
    return ((REGION / "leaf.conf").read_text().replace("kobe", space)
            .replace("listen: 127.0.0.1:4222", f"listen: 127.0.0.1:{port}")
            .replace("http: 127.0.0.1:8222", f"http: 127.0.0.1:{http}")
            .replace("/var/lib/hitode/nats", str(store)))


@pytest_asyncio.fixture
async def region(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """deploy/leaf as shipped, on loopback: the hub, and kobe's and sapporo's own servers as
    its leaves. Yields the URLs: "hub" (for the admin) and one per space (its leaf)."""
    hub_port, hub_leaf, hub_http = free_port(), free_port(), free_port()
    secrets = {"KOBE_PASSWORD": "kobe-s3cret", "SAPPORO_PASSWORD": "sapporo-s3cret"}
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(_server(
            _hub_conf(hub_port, hub_leaf, hub_http, tmp_path / "hub"), tmp_path / "hub.conf", hub_http, secrets))
        urls = {"hub": f"nats://127.0.0.1:{hub_port}"}
        for space in SPACES:
            port, http = free_port(), free_port()
            env = {"HUB_LEAF_URL": f"nats-leaf://{space}:{space}-s3cret@127.0.0.1:{hub_leaf}"}
            await stack.enter_async_context(_server(
                _leaf_conf(space, port, http, tmp_path / f"leaf-{space}"), tmp_path / f"leaf-{space}.conf", http, env))
            urls[space] = f"nats://127.0.0.1:{port}"
        yield urls


async def test_two_spaces_on_their_own_leaves_federate_with_only_the_hub_allow_list(
    tmp_path: Path, region: dict[str, str]
) -> None:
    """Kobe and sapporo each run a leaf of the hub (domain hub) whose hub user has only the
    rights hub.conf grants. They publish and consume through the hub's stream, see each
    other online, exchange a sealed note, repair a record lost from the stream over RPC
    across the leaves, and kobe makes again a consumer someone changed by hand. Nothing
    is refused."""
    admin = await nats.connect(region["hub"], user="admin", password="admin")
    try:
        jsm = admin.jsm()
        await jsm.add_stream(dataclasses.replace(stream_config(1), subjects=[
            s for space in SPACES for s in (f"hitode.pub.*.{space}", f"hitode.dm.*.*.{space}")]))
        await jsm.add_consumer("HITODE", ConsumerConfig(
            name="kobe-pub", durable_name="kobe-pub", filter_subject="hitode.pub.*.nobody",
            ack_policy=AckPolicy.EXPLICIT))
        kobe, sapporo = (Space(tmp_path / s, s, region[s]) for s in SPACES)
        for space in (kobe, sapporo):
            cfg = space.dir / "config.toml"
            cfg.write_text(cfg.read_text().replace('domain = ""', 'domain = "hub"'))
        await asyncio.gather(kobe.start(), sapporo.start())
        try:
            await converged([kobe, sapporo])
            await eventually(lambda: _online(kobe, "sapporo"), timeout=20)
            await eventually(lambda: _online(sapporo, "kobe"), timeout=20)

            await kobe.put("/api/space", {"hours": "9-21"})
            await eventually(lambda: _hours(sapporo, "9-21"), timeout=20)
            await kobe.post("/api/notes", {"to": "sapporo", "text": "shared lunch on Friday?"})
            await eventually(lambda: _note(sapporo, "shared lunch on Friday?"), timeout=20)

            # A record lost from the hub's stream while sapporo is down comes back over RPC.
            await sapporo.stop()
            await kobe.put("/api/space", {"hours": "lost from the stream"})
            lost = await eventually(lambda: _last(jsm, "hitode.pub.space.kobe", "lost from the stream"))
            assert await jsm.delete_msg("HITODE", lost)
            await kobe.put("/api/space", {"hours": "after"})
            await sapporo.start()
            await eventually(lambda: _hours(sapporo, "after"), timeout=30)
            await converged([kobe, sapporo])
            assert 'hitode_sync_requests_total{outcome="repaired"}' in await sapporo.get("/metrics")

            info = await jsm.consumer_info("HITODE", "kobe-pub")
            assert info.config.filter_subject == "hitode.pub.>"
        finally:
            await asyncio.gather(kobe.close(), sapporo.close())
        for space in (kobe, sapporo):
            log = (space.dir / "node.log").read_text()
            assert "refused" not in log.lower() and "cannot bind" not in log, log
    finally:
        await admin.close()


async def test_a_node_with_a_wrong_hub_password_says_so(tmp_path: Path, region: dict[str, str]) -> None:
    """A space whose config has the wrong password for its hub user is told plainly: /healthz
    says `refused`, the log names the config keys, and the node still serves its operator."""
    kobe = Space(tmp_path / "kobe", "kobe", region["hub"])
    cfg = kobe.dir / "config.toml"
    cfg.write_text(cfg.read_text().replace('domain = ""', 'domain = "hub"')
                   .replace('user = ""', 'user = "kobe"').replace('password = ""', 'password = "not-it"'))
    await kobe.start()
    try:
        await eventually(lambda: _bus(kobe, "refused"), timeout=20)
        await kobe.put("/api/space", {"hours": "9-18"})  # waits in the outbox
        assert (await kobe.get("/api/spaces/kobe"))["hours"] == "9-18"
    finally:
        await kobe.close()
    log = (kobe.dir / "node.log").read_text()
    assert "NATS refused us" in log and "[nats] user, password or creds" in log, log
    assert log.count("NATS refused us") == 1  # not once per attempt


async def _online(space: Space, other: str) -> bool:
    listed = (await space.get("/api/spaces"))["spaces"]
    return any(s["id"] == other and s.get("online") for s in listed)


async def _hours(space: Space, want: str) -> bool:
    try:
        return bool((await space.get("/api/spaces/kobe"))["hours"] == want)
    except HttpError:
        return False


async def _note(space: Space, text: str) -> bool:
    return any(n["text"] == text for n in (await space.get("/api/notes"))["notes"])


async def _last(jsm: Any, subject: str, marker: str) -> int | None:
    """The stream sequence of the last record on `subject` once it is the one holding `marker`."""
    msg = await jsm.get_last_msg("HITODE", subject)
    return int(msg.seq) if msg.data and marker.encode() in msg.data else None


async def _bus(space: Space, state: str) -> bool:
    return bool((await space.get("/healthz"))["bus"] == state)


async def _backlog_zero(space: Space) -> bool:
    return bool((await space.get("/healthz"))["outbox_backlog"] == 0)
