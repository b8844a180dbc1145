"""The `hitode` command as an operator meets it: init, run, demo, and its plain failures."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.eventually import eventually
from tests.net import free_run, taken_port

HITODE = [sys.executable, "-m", "node"]


def hitode(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HITODE, *args], capture_output=True, text=True, timeout=timeout)


def test_init_creates_keys_readable_by_the_owner_only(tmp_path: Path) -> None:
    """`hitode init` writes config, two key pairs and a token, all mode 0600; a second init refuses."""
    d = tmp_path / "kobe"
    r = hitode("init", "--dir", str(d), "--space", "kobe", "--name", "Kobe Coworking")
    assert r.returncode == 0, r.stderr
    for name in ("signing.key", "box.key", "operator.token", "config.toml"):
        assert (d / name).stat().st_mode & 0o777 == 0o600, name
    again = hitode("init", "--dir", str(d), "--space", "kobe", "--name", "Kobe")
    assert again.returncode == 2 and "already initialised" in again.stderr


def test_an_init_interrupted_before_its_config_can_be_run_again(tmp_path: Path) -> None:
    """Keys on disk but no config (init was killed): a second init completes it."""
    d = tmp_path / "kobe"
    d.mkdir()
    (d / "signing.key").write_bytes(b"x" * 32)
    (d / "signing.key").chmod(0o600)
    r = hitode("init", "--dir", str(d), "--space", "kobe", "--name", "K")
    assert r.returncode == 0, r.stderr
    assert (d / "config.toml").exists() and (d / "signing.key").read_bytes() != b"x" * 32


def test_bad_space_id_at_init_names_the_key(tmp_path: Path) -> None:
    """An id with capitals is refused before anything is written, naming space.id."""
    r = hitode("init", "--dir", str(tmp_path / "x"), "--space", "Kobe!", "--name", "K")
    assert r.returncode == 2 and "space.id" in r.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        # a typo: `prot = 8701` under [http]
        ("[http]\n", "[http]\nprot = 8701\n", ["prot", "http"]),
        # a zone that does not exist
        ('tz = "Asia/Tokyo"', 'tz = "Asia/Kobe"', ["space", "Asia/Kobe", "time zone"]),
    ],
)
def test_a_bad_config_names_the_key_and_exits_2(tmp_path: Path, old: str, new: str, named: list[str]) -> None:
    d = tmp_path / "kobe"
    assert hitode("init", "--dir", str(d), "--space", "kobe", "--name", "K").returncode == 0
    cfg = d / "config.toml"
    cfg.write_text(cfg.read_text().replace(old, new))
    r = hitode("run", "--dir", str(d))
    assert r.returncode == 2
    assert all(word in r.stderr for word in named), r.stderr


def test_an_http_port_in_use_is_named(tmp_path: Path) -> None:
    """A node whose HTTP port is taken says which port, and stops its nats-server."""
    with taken_port() as port:
        d = tmp_path / "kobe"
        hitode("init", "--dir", str(d), "--space", "kobe", "--name", "K", "--http-port", str(port))
        r = hitode("run", "--dir", str(d))
    assert r.returncode != 0
    assert str(port) in r.stderr and "http.port" in r.stderr


def test_a_nats_server_that_will_not_start_shows_its_log(tmp_path: Path) -> None:
    """The embedded server's client port is taken: the error carries the tail of its log."""
    with taken_port() as port:
        d = tmp_path / "kobe"
        hitode("init", "--dir", str(d), "--space", "kobe", "--name", "K", "--http-port", "0")
        cfg = d / "config.toml"
        cfg.write_text(cfg.read_text().replace("client_port = -1", f"client_port = {port}"))
        r = hitode("run", "--dir", str(d))
    assert r.returncode == 1
    assert "address already in use" in r.stderr.lower() and str(port) in r.stderr


async def _health(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as s, s.get(url + "/healthz") as r:
        return dict(await r.json())


async def _run_demo(base: Path, port: int, stop_with: signal.Signals) -> str:
    # The console script `make demo` runs, not `python -m node`: its entry point is tested too.
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("hitode")), "demo", "--dir", str(base), "--base-port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # like a terminal: Ctrl-C reaches the whole process group
    )
    assert proc.stdout is not None
    out = b""
    try:
        while b"Ctrl-C stops it" not in out:
            line = await asyncio.wait_for(proc.stdout.readline(), 90)
            assert line, out.decode()
            out += line
        for i in range(3):
            await eventually(lambda i=i: _bus_connected(f"http://127.0.0.1:{port + i}"), timeout=30)
        os.killpg(proc.pid, stop_with)
        rest, _ = await asyncio.wait_for(proc.communicate(), 60)
        out += rest
        assert proc.returncode == 0, out.decode()
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            for line in _leftover_servers(base):  # their own sessions: not in the group
                os.kill(int(line.split()[0]), signal.SIGKILL)
    return out.decode()


def _leftover_servers(base: Path) -> list[str]:
    """Live nats-server processes whose command line points into `base`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if "nats-server" in args and str(base) in args and state not in ("Z", "X"):
            found.append(f"{proc.name} {args}")
    return found


async def test_demo_starts_three_spaces_and_stops_cleanly_twice(tmp_path: Path) -> None:
    """`hitode demo` serves three dashboards in one cluster; Ctrl-C stops it all; a second run works."""
    base = tmp_path / "demo"
    port = free_run(3)  # the demo takes port, port + 1 and port + 2
    out = await _run_demo(base, port, signal.SIGINT)
    for space in ("kobe", "sapporo", "hakodate"):
        assert space in out
        assert (base / space / "operator.token").exists()
    assert "stopped" in out
    assert _leftover_servers(base) == []
    again = await _run_demo(base, port, signal.SIGTERM)
    assert "stopped" in again and _leftover_servers(base) == []
    loud = [ln for ln in (out + again).splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", ln)]
    assert not loud, "the demo logged at WARNING or above:\n" + "\n".join(loud)


async def test_node_killed_with_sigkill_restarts_on_its_own_data(tmp_path: Path) -> None:
    """`hitode run` is SIGKILLed (its embedded server orphaned); the next run takes over cleanly, losing no write."""
    d = tmp_path / "kobe"
    hitode("init", "--dir", str(d), "--space", "kobe", "--name", "K", "--http-port", "0")
    token = (d / "operator.token").read_text().strip()

    async def start() -> tuple[asyncio.subprocess.Process, str]:
        (d / "run.json").unlink(missing_ok=True)
        proc = await asyncio.create_subprocess_exec(
            *HITODE, "run", "--dir", str(d),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        url = await eventually(lambda: json.loads((d / "run.json").read_text())["http_url"], timeout=30)
        return proc, str(url)

    proc, url = await start()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.put(url + "/api/space", json={"hours": "before the crash"}) as r:
            assert r.status == 200
        proc.kill()
        await proc.wait()
        proc, url = await start()
        try:
            async with http.get(url + "/api/spaces/kobe") as r:
                assert (await r.json())["hours"] == "before the crash"
            health = await eventually(lambda: _health(url), timeout=30)
            await eventually(lambda: _bus_connected(url), timeout=30)
            assert health["space"] == "kobe"
            assert len(_leftover_servers(d)) == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
    assert _leftover_servers(d) == []


async def _bus_connected(url: str) -> bool:
    return (await _health(url))["bus"] == "connected"
