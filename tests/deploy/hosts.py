"""Hosts for tests: network namespaces on one bridge, each with its own address (root only).

`Lan` owns the bridge and the namespaces it makes, and removes them on exit, whatever
happened. A `Host` is one namespace joined to the bridge by a veth pair (its uplink, `address`),
and to this process by a second pair (the operator's local network, `local`): `cut()`
takes its uplink down, as when a space's internet line fails, while its operator still
reaches its node; `mend()` brings the uplink back. Commands run inside with
`ip netns exec`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

__all__ = ["Lan", "Host", "Server", "can_make_hosts", "hitode", "lines"]


def can_make_hosts() -> str | None:
    """None if this process may make network namespaces, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs the suite as root)"
    if shutil.which("ip") is None:
        return "the `ip` command (Debian's iproute2) is missing"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Host:
    def __init__(self, lan: Lan, name: str, index: int) -> None:
        self.name = name
        self.ns = f"{lan.tag}-{name}"
        self.address = f"{lan.prefix}.{index}"
        self._outer = f"{lan.tag}o{index}"  # the bridge's end of the veth pair
        inner = f"{lan.tag}i{index}"
        local_net = f"{lan.local_prefix}.{index}"
        self.local = f"{local_net}.1"
        _ip("netns", "add", self.ns)
        _ip("link", "add", f"{lan.tag}l{index}", "type", "veth", "peer", "name", f"{lan.tag}m{index}")
        _ip("link", "set", f"{lan.tag}m{index}", "netns", self.ns)
        _ip("addr", "add", f"{local_net}.254/24", "dev", f"{lan.tag}l{index}")
        _ip("link", "set", f"{lan.tag}l{index}", "up")
        self.sh("ip", "addr", "add", f"{self.local}/24", "dev", f"{lan.tag}m{index}")
        self.sh("ip", "link", "set", f"{lan.tag}m{index}", "up")
        _ip("link", "add", self._outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", self.ns)
        _ip("link", "set", self._outer, "master", lan.bridge, "up")
        self.sh("ip", "link", "set", "lo", "up")
        self.sh("ip", "addr", "add", f"{self.address}/24", "dev", inner)
        self.sh("ip", "link", "set", inner, "up")

    @property
    def prefix(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.ns)

    def sh(self, *cmd: str, timeout: float = 30) -> str:
        """Run a command inside; its output, or an AssertionError carrying it."""
        r = subprocess.run([*self.prefix, *cmd], capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"{' '.join(cmd)} on {self.name}: {r.returncode}\n{r.stdout}{r.stderr}"
        return r.stdout

    def cut(self) -> None:
        _ip("link", "set", self._outer, "down")

    def mend(self) -> None:
        _ip("link", "set", self._outer, "up")


def _unused(used: str, pick: Callable[[], str]) -> str:
    """A random prefix that no address in `used` (`ip -o addr show`) starts with."""
    for _ in range(100):
        prefix = pick()
        if f" {prefix}." not in used:
            return prefix
    raise RuntimeError("no free address prefix for the test hosts: stale namespaces? (ip netns list)")


class Lan:
    """`with Lan(["kobe", ...]) as lan`: lan["kobe"].address is 10.x.y.1, and so on."""

    def __init__(self, names: Sequence[str]) -> None:
        self.tag = "hx" + secrets.token_hex(2)  # interface names stay under 16 characters
        # Prefixes no other Lan on this machine uses (tests run on several workers at once).
        used = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
        self.prefix = _unused(used, lambda: f"10.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}")
        # 172.x.<host>.0/24: the operators' links
        self.local_prefix = _unused(used, lambda: f"172.{secrets.randbelow(16) + 16}")
        self.bridge = f"{self.tag}br"
        self._names = list(names)
        self.hosts: dict[str, Host] = {}
        self.gateway = f"{self.prefix}.254"  # this process's address on the bridge

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __enter__(self) -> Lan:
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i, name in enumerate(self._names, start=1):
                self.hosts[name] = Host(self, name, i)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for host in self.hosts.values():
            with contextlib.suppress(subprocess.SubprocessError):
                _ip("netns", "del", host.ns)  # takes its end of the veth pair, and so the pair
        with contextlib.suppress(subprocess.SubprocessError):
            _ip("link", "del", self.bridge)


def hitode(host: Host | None, *args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """The `hitode` command as an operator types it, on `host` (or here)."""
    prefix = host.prefix if host is not None else ()
    r = subprocess.run([*prefix, sys.executable, "-m", "node", *map(str, args)],
                       capture_output=True, text=True, timeout=60)
    if ok:
        assert r.returncode == 0, f"hitode {' '.join(map(str, args))}: {r.returncode}\n{r.stdout}{r.stderr}"
    return r


class Server:
    """A nats-server started inside a host from a generated config; stopped with SIGTERM."""

    def __init__(self, host: Host, conf: Path, log: Path) -> None:
        self.host, self.conf, self.log = host, conf, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        from node.bus.binary import find_binary

        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.host.prefix, find_binary(), "-c", str(self.conf),
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None


def lines(path: Path) -> Iterator[str]:
    with contextlib.suppress(FileNotFoundError):
        yield from path.read_text(errors="replace").splitlines()
