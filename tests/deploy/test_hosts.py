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
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(100),
]

HUB = ("kobe", "sapporo", "hakodate")


async def test_this_machine_can_make_the_hosts() -> None:
    """The multi-host tests need root and `ip` (make test installs iproute2 as root): never skipped, they fail saying why."""
    assert can_make_hosts() is None, can_make_hosts()


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


async def _refused(url: str, **auth: Any) -> str:
    """The server's answer to a connection attempt: its refusal, or "accepted"."""
    try:
        nc = await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3, **auth)
    except Exception as e:  # noqa: BLE001 - whatever the client makes of the refusal
        return str(e) or type(e).__name__
    await nc.close()
    return "accepted"


def _tls_refused(host: str, port: int, cert_dir: Path | None) -> str:
    """Dial a route or leaf port as another server would, with `cert_dir`'s certificate
    (or none), and see whether the server takes us: "accepted", or its refusal."""
    import socket

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # we test the server's check, not ours
    if cert_dir is not None:
        ctx.load_cert_chain(cert_dir / "server.crt", cert_dir / "server.key")
    with socket.create_connection((host, port), timeout=5) as raw:
        raw.settimeout(1)
        with contextlib.suppress(TimeoutError):
            raw.recv(4096)  # a leaf port says INFO in the clear first; a route port starts with TLS
        raw.settimeout(5)
        try:
            with ctx.wrap_socket(raw) as tls:
                tls.settimeout(3)
                # TLS 1.3: the server's verdict on our certificate comes with its first record
                return "accepted" if tls.recv(4096) else "closed"
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            return f"refused: {e}"
        except TimeoutError:
            return "accepted"  # waiting for our CONNECT: it took the certificate


async def test_servers_refuse_strangers_other_spaces_subjects_and_servers_without_the_cas_certificate(
    fed: Federation, tmp_path: Path
) -> None:
    """From another namespace: a client without credentials is refused by every server;
    kobe's user may not publish sapporo's records nor delete stream HITODE; a route or
    leaf connection without a certificate of the federation's CA is refused."""
    for name in HUB:
        answer = await _refused(f"nats://{fed.lan[name].address}:4222")
        assert "authorization" in answer.lower(), (name, answer)

    kobe_cfg = load_config(fed.base / "kobe").nats
    errors: list[str] = []

    async def on_error(e: Exception) -> None:
        errors.append(str(e))

    nc = await nats.connect(f"nats://{fed.lan['kobe'].address}:4222", user=kobe_cfg.user,
                            password=kobe_cfg.password, error_cb=on_error, allow_reconnect=False)
    try:
        js = nc.jetstream(domain="hub", timeout=2)
        with pytest.raises(Exception):
            await js.publish("hitode.pub.space.sapporo", b"forged")
        with pytest.raises(Exception):
            await nc.jsm(prefix="$JS.hub.API", timeout=2).delete_stream("HITODE")
        await eventually(lambda: any("permissions violation" in e.lower() and "sapporo" in e.lower() for e in errors))
        await eventually(lambda: any("permissions violation" in e.lower() and "stream.delete.hitode" in e.lower() for e in errors))
    finally:
        await nc.close()
    url, password = fed.admin_url("kobe")
    admin = await nats.connect(url, user=ADMIN, password=password, allow_reconnect=False)
    try:
        info = await admin.jsm(prefix="$JS.hub.API").stream_info("HITODE")
        assert info.state.messages > 0
        # sapporo's own profile is the last record on its subject, not kobe's forgery
        last = await admin.jsm(prefix="$JS.hub.API").get_last_msg("HITODE", "hitode.pub.space.sapporo")
        assert last.data != b"forged"
    finally:
        await admin.close()

    stranger_ca = tmp_path / "stranger-ca"
    pki.init_ca(stranger_ca)
    pki.issue(stranger_ca, tmp_path / "stranger", name="stranger", hosts=[fed.lan.gateway])
    ports = [(n, 6222) for n in HUB] + [("kobe", 7422)]
    for name, port in ports:
        for certs in (None, tmp_path / "stranger"):
            answer = await asyncio.to_thread(_tls_refused, fed.lan[name].address, port, certs)
            assert "certificate required" in answer or "unknown ca" in answer, (name, port, certs, answer)
    # and a server with the CA's certificate is taken: the check above would see it
    for name, port in ports:
        answer = await asyncio.to_thread(_tls_refused, fed.lan[name].address, port, fed.base / "hakodate" / "tls")
        assert answer == "accepted", (name, port, answer)


async def test_a_fourth_space_joins_by_invitation_as_a_leaf_and_the_invitation_works_once(
    fed: Federation, tmp_path: Path
) -> None:
    """Kobe's operator runs `hitode invite`; osaka's runs `hitode join <line>` on its own
    host and starts what it wrote: its own server, a leaf of the hub over TLS, and its node,
    which federates with the three with no hand-editing. The same line used again, or an
    expired one, is refused with a message saying so."""
    kobe, osaka_host = fed.lan["kobe"], fed.lan["osaka"]
    out = hitode(kobe, "invite", "--dir", fed.base / "kobe", "--expires", "1h").stdout
    line = out.strip().splitlines()[-1]
    assert line.startswith("hitode-invite:"), out
    osaka_dir = fed.base / "osaka"
    hitode(osaka_host, "join", line, "--dir", osaka_dir, "--space", "osaka", "--name", "Osaka Coworking",
           "--address", osaka_host.address, "--http-host", osaka_host.local, "--http-port", "0",
           "--monitor-address", "0.0.0.0")
    assert load_config(osaka_dir).pins[0].space == "kobe"
    await fed.start_server("osaka")
    await fed.healthy("osaka")
    osaka = fed.spaces["osaka"] = _space(fed.base, fed.lan, "osaka")
    await osaka.start()
    await osaka.put("/api/space", {"hours": "10-22"})
    # A new leaf: its link, its consumers and the hub's interest take a while on a busy machine.
    await eventually(lambda: _hours(fed.spaces["sapporo"], "osaka", "10-22"), timeout=90, interval=0.3)
    await fed.spaces["hakodate"].put("/api/space", {"hours": "8-20"})
    await eventually(lambda: _hours(osaka, "hakodate", "8-20"), timeout=90, interval=0.3)
    await converged(list(fed.spaces.values()), timeout=60)

    again = hitode(None, "join", line, "--dir", tmp_path / "mallory", "--space", "mallory", "--name", "M",
                   ok=False)
    assert again.returncode == 1 and "already used (by osaka" in again.stderr, again.stderr

    out = hitode(kobe, "invite", "--dir", fed.base / "kobe", "--expires", "1s").stdout
    short = out.strip().splitlines()[-1]
    deadline = time.time() + 1.5
    await eventually(lambda: time.time() > deadline, timeout=5)  # the invitation's clock, not a race
    late = hitode(None, "join", short, "--dir", tmp_path / "late", "--space", "late", "--name", "L", ok=False)
    assert late.returncode == 1 and "expired at" in late.stderr and "ask kobe's operator" in late.stderr, late.stderr
    assert not (tmp_path / "late").exists()

    bad = hitode(None, "join", line[:-10], "--dir", tmp_path / "bad", ok=False)
    assert bad.returncode == 2 and "damaged" in bad.stderr, bad.stderr


async def test_a_space_restored_from_its_backup_catches_up_and_ends_equal(fed: Federation, tmp_path: Path) -> None:
    """`hitode backup` while sapporo runs; the others write on; sapporo's host is wiped
    (node, server and data); `hitode restore` into a new data dir and a start: sapporo
    catches up from its peers and ends with the same digest."""
    sapporo = fed.spaces["sapporo"]
    archive = tmp_path / "sapporo.hitode"
    hitode(fed.lan["sapporo"], "backup", "--dir", sapporo.dir, "--out", archive)
    assert archive.stat().st_mode & 0o777 == 0o600
    await fed.spaces["kobe"].put("/api/space", {"hours": "written after the backup"})
    await eventually(lambda: _hours(sapporo, "kobe", "written after the backup"), timeout=20)

    await sapporo.close()
    await fed.servers["sapporo"].stop()
    shutil.rmtree(sapporo.dir)
    hitode(fed.lan["sapporo"], "restore", archive, "--dir", sapporo.dir)
    assert (sapporo.dir / "signing.key").stat().st_mode & 0o777 == 0o600
    await fed.start_server("sapporo")
    await fed.healthy("sapporo", timeout=60)
    restored = fed.spaces["sapporo"] = _space(fed.base, fed.lan, "sapporo")
    await restored.start()
    await eventually(lambda: _hours(restored, "kobe", "written after the backup"), timeout=60, interval=0.3)
    await converged(list(fed.spaces.values()), timeout=60)

    status = hitode(fed.lan["sapporo"], "status", "--dir", sapporo.dir)
    assert "bus: connected" in status.stdout and "server certificate: valid until" in status.stdout, status.stdout
