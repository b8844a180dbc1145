"""Spaces under test: real `hitode run` processes over real HTTP, killable with SIGKILL.

A `Space` is one node as an operator runs it: its own data dir, its own process, talking
to its own nats-server. Tests start, stop and kill them and read them only through HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from node.app.node import RUN_FILE
from node.app.setup import init_space
from node.federation.identity import read_token
from tests.eventually import eventually

__all__ = ["Space", "HttpError", "spaces_for", "converged"]


class HttpError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Space:
    def __init__(self, data_dir: Path, space: str, nats_url: str, *, replicas: int = 1,
                 http_host: str = "127.0.0.1", prefix: Sequence[str] = ()) -> None:
        self.dir = data_dir
        self.id = space
        self.prefix = tuple(prefix)  # e.g. `ip netns exec <ns>`: run the node on another host
        if not (data_dir / "config.toml").exists():  # else a restored data dir
            init_space(data_dir, space=space, name=f"{space.title()} Coworking", http_port=0,
                       nats_urls=[nats_url], stream_replicas=replicas, http_host=http_host)
        # A faster heartbeat than production, so presence and its gap hints show quickly.
        cfg = data_dir / "config.toml"
        cfg.write_text(cfg.read_text().replace("presence_interval = 5.0", "presence_interval = 1.0"))
        self.token = read_token(data_dir)
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        (self.dir / RUN_FILE).unlink(missing_ok=True)
        log = open(self.dir / "node.log", "ab")  # noqa: SIM115 - the child owns it
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.prefix, sys.executable, "-m", "node", "run", "--dir", str(self.dir),
                stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            log.close()

        def started() -> str:
            assert self.proc is not None and self.proc.returncode is None, self.log_tail()
            return str(json.loads((self.dir / RUN_FILE).read_text())["http_url"])

        self.url = await eventually(started, timeout=60)
        if self._session is None:
            self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        if self.proc is not None and self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()
        self.proc = None

    async def close(self) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.dir / "node.log").read_text().splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    async def request(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        assert self._session is not None, "space not started"
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        data = json.dumps(body) if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self._session.request(method, self.url + path, data=data, headers=headers) as r:
            payload = await r.json() if r.content_type == "application/json" else await r.text()
            if r.status >= 400:
                raise HttpError(r.status, payload)
            return payload

    async def get(self, path: str, *, auth: bool = True) -> Any:
        return await self.request("GET", path, auth=auth)

    async def put(self, path: str, body: Any) -> Any:
        return await self.request("PUT", path, body)

    async def post(self, path: str, body: Any) -> Any:
        return await self.request("POST", path, body)

    async def digest(self) -> str:
        return str((await self.get("/api/federation"))["digest"])

    async def space_version(self, of: str) -> int:
        try:
            return int((await self.get(f"/api/spaces/{of}"))["version"])
        except HttpError:
            return 0


async def converged(spaces: Sequence[Space], timeout: float = 30) -> str:
    """Wait until every space reports the same federation digest, and return it."""

    async def same() -> str | None:
        digests = {await s.digest() for s in spaces}
        return digests.pop() if len(digests) == 1 else None

    return await eventually(same, timeout=timeout, interval=0.2)


@asynccontextmanager
async def spaces_for(
    base: Path, names: Sequence[str], url_of: Callable[[str], str], *, replicas: int = 1
) -> AsyncIterator[list[Space]]:
    made = [Space(base / n, n, url_of(n), replicas=replicas) for n in names]
    try:
        await asyncio.gather(*(s.start() for s in made))
        yield made
    finally:
        await asyncio.gather(*(s.close() for s in made), return_exceptions=True)


