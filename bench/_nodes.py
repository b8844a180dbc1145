"""The nodes under test: three `python -m node run` processes and what the bench reads of
them (their SQLite files read-only, their /metrics, their logs), and the prefill of kobe's
outbox with the node's own code."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import msgspec

from _harness import Child, Reader, wait_all


class Space:
    """One node as `python -m node run --dir D`, as tests/spaces.py runs it."""

    def __init__(self, work: Path, name: str, url: str) -> None:
        from node.app.setup import init_space
        from node.federation.identity import read_token

        self.name, self.dir = name, work / name
        init_space(self.dir, space=name, name=f"{name.title()} Coworking", http_port=0,
                   nats_urls=[url], stream_replicas=3)
        self.token = read_token(self.dir)
        self.child = Child(name, self.dir / "node.log")
        self.url = ""

    @property
    def db(self) -> Path:
        from node.app.node import DB_FILE

        return self.dir / DB_FILE

    async def start(self) -> None:
        await self.child.start("-m", "node", "run", "--dir", str(self.dir), pipe=False)

    async def ready(self, http: Any, timeout: float = 30) -> None:
        """run.json written (HTTP is up), then /healthz says the bus is connected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.child.pid is None:
                raise RuntimeError(f"node {self.name} exited:\n{self.child.tail()}")
            try:
                self.url = json.loads((self.dir / "run.json").read_text())["http_url"]
                async with http.get(self.url + "/healthz") as r:
                    if r.status == 200 and (await r.json())["bus"] == "connected":
                        return
            except (OSError, ValueError, KeyError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"node {self.name} not ready in {timeout}s:\n{self.child.tail()}")

    async def counters(self, http: Any) -> dict[str, float]:
        """The node's own counters from GET /metrics, summed over their labels."""
        async with http.get(self.url + "/metrics", headers={"Authorization": f"Bearer {self.token}"}) as r:
            text = await r.text()
        out: dict[str, float] = {}
        for line in text.splitlines():
            m = re.match(r"hitode_(\w+?)_total(\{[^}]*\})? (\S+)$", line)
            if m:
                key = m.group(1) + ("" if "repaired" not in (m.group(2) or "") else "_repaired")
                out[key] = out.get(key, 0.0) + float(m.group(3))
        return out

    def log_size(self) -> int:
        try:
            return self.child.log.stat().st_size
        except OSError:
            return 0

    def sync_repairs(self, since: int) -> int:
        """Gap repairs by sync RPC this node logged after byte `since` of its log."""
        with self.child.log.open("rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        return sum(1 for line in text.splitlines() if "sync: " in line and " came from " in line)


def chain_seq(r: Reader, author: str = "kobe") -> int:
    """The highest contiguous seq of `author`'s pub chain that a node has applied."""
    return int(r.scalar("SELECT seq FROM chains WHERE author = ? AND channel = 'pub'", (author,)) or 0)


async def prefill(data_dir: Path, n: int) -> int:
    """Sign and queue versions 1..n of the space's profile with the node's own
    outbox.append while its node is not running; return the envelope size in bytes."""
    from node.config import load_config
    from node.federation.directory import KIND, profile_from_config
    from node.federation.identity import Identity
    from node.federation.outbox import append
    from node.app.node import DB_FILE
    from node.store import Store, Tx

    config = load_config(data_dir)
    ident = Identity.load(config.space.id, data_dir)
    base = profile_from_config(config, ident)
    async with Store(data_dir / DB_FILE) as store:
        for start in range(1, n + 1, 500):

            def unit(tx: Tx, start: int = start) -> None:
                for v in range(start, min(n, start + 499) + 1):
                    body = msgspec.structs.replace(base, hours=f"version {v}")
                    append(tx, ident, kind=KIND, record_id=ident.space, version=v, body=body)

            await store.transact(unit)
        return int(await store.scalar("SELECT avg(length(raw)) FROM log"))


async def quiesce(spaces: dict[str, Space], nc: Any, timeout: float = 120) -> float:
    """Wait until every node's pub consumer has applied all of stream HITODE (kobe also
    consumes its own records); return when that happened."""
    last = (await nc.jsm(timeout=10).stream_info("HITODE")).state.last_seq
    readers = {name: Reader(s.db) for name, s in spaces.items()}
    try:
        t: float = await wait_all(
            readers,
            lambda r: int(r.scalar("SELECT max(stream_seq) FROM positions WHERE consumer LIKE '%-pub'") or 0),
            last, "consumers caught up to stream seq", timeout=timeout)
        return t
    finally:
        for r in readers.values():
            r.close()
