"""One supervised nats-server process.

``EmbeddedNats`` owns one nats-server subprocess: its config file, log file, ports file
and JetStream store all live under one ``store_dir``, and it supervises the process,
restarting it on the same ports if it dies. ``hitode run``, ``hitode demo`` and the tests
start servers through this class and nowhere else (DESIGN §8); several of them joined in
a cluster are ``node.bus.cluster.NatsCluster``, and which binary runs is decided by
``node.bus.binary``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import aiohttp

from node.bus.binary import find_binary
from node.errors import NatsServerError

__all__ = ["LOOPBACK", "EmbeddedNats"]

logger = logging.getLogger(__name__)

# The only address a server listens on; NatsCluster reserves its route ports here too.
LOOPBACK = "127.0.0.1"

_POLL, _LOG_TAIL = 0.05, 15
_START_TIMEOUT, _STOP_TIMEOUT = 15.0, 10.0
_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 10.0
# A server that stayed up this long died for a new reason: back off from the start again.
_STABLE_UPTIME = 30.0


def _read_tail(path: Path, offset: int = 0) -> str:
    """The last lines written to ``path`` since byte ``offset`` (all of it if rotated)."""
    try:
        with path.open("rb") as f:
            f.seek(offset if offset <= f.seek(0, os.SEEK_END) else 0)
            data = f.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-_LOG_TAIL:])


class EmbeddedNats:
    """One supervised nats-server process with JetStream, on loopback.

    Ports given as -1 are chosen by the server on first start and then pinned: every
    later start reuses them, so clients reconnect to the same URL and cluster peers'
    routes keep pointing at it.
    """

    def __init__(
        self, *, store_dir: Path, name: str, binary: str | None = None,
        cluster_name: str | None = None, routes: Sequence[str] = (),
        jetstream_domain: str | None = None,
        client_port: int = -1, cluster_port: int = -1, monitor_port: int = -1,
    ) -> None:
        self.name = name
        self.store_dir = Path(store_dir)
        self.config_path = self.store_dir / "nats-server.conf"
        self.log_path = self.store_dir / "nats-server.log"
        self.ports_dir = self.store_dir / "ports"
        self.cluster_name = cluster_name
        self.routes = tuple(routes)
        self.jetstream_domain = jetstream_domain
        self._binary = binary
        # keyed as in nats-server's ports file
        self._ports = {"nats": client_port, "cluster": cluster_port, "monitoring": monitor_port}
        self._proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._log_offset = 0  # where the current run's lines begin in log_path

    def _url(self, scheme: str, kind: str) -> str:
        if self._ports[kind] < 0:
            raise NatsServerError(f"nats-server {self.name} has no {kind} port until started")
        return f"{scheme}://{LOOPBACK}:{self._ports[kind]}"

    @property
    def client_url(self) -> str:
        return self._url("nats", "nats")

    @property
    def monitor_url(self) -> str:
        return self._url("http", "monitoring")

    @property
    def cluster_url(self) -> str | None:
        return None if self.cluster_name is None else self._url("nats-route", "cluster")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self.running else None

    async def __aenter__(self) -> Self:
        await self.start()
        try:
            await self.wait_healthy()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Spawn the server and return once it has bound its ports, maybe not yet healthy:
        a clustered server waits for its peers, so start them all, then wait on each."""
        if self.running:
            return
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(),
                                               name=f"nats-server {self.name} supervisor")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; harmless when already stopped."""
        await self._end(graceful=True)

    async def kill(self) -> None:
        """SIGKILL now, as a crash would; deliberate, so supervision leaves it down."""
        await self._end(graceful=False)

    async def _end(self, *, graceful: bool) -> None:
        # The supervisor goes first, so it never mistakes this exit for a crash.
        await self._stop_supervising()
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            (proc.terminate if graceful else proc.kill)()
        try:
            await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT)
        except TimeoutError:
            logger.warning("nats-server %s ignored SIGTERM for %ss; killing it",
                           self.name, _STOP_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        logger.info("nats-server %s %s", self.name, "stopped" if graceful else "killed")

    async def restart(self) -> None:
        """Stop, then start on the same ports and store dir, and wait until healthy."""
        await self.stop()
        await self.start()
        await self.wait_healthy()

    async def wait_healthy(self, timeout: float = 30) -> None:
        """Poll the full ``/healthz`` until 200: it checks JetStream, and in a cluster
        that the meta group has a leader and this server's assets are current."""
        url, last = f"{self.monitor_url}/healthz", "no answer yet"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while loop.time() < deadline:
                # while the supervisor restarts a crashed server, keep waiting for it
                if self._proc is None and self._supervisor is None:
                    raise NatsServerError(f"nats-server {self.name} is not running")
                try:
                    async with http.get(url) as resp:
                        if resp.status == 200:
                            return
                        last = f"{resp.status} {(await resp.text()).strip()}"
                except (aiohttp.ClientError, TimeoutError) as e:
                    last = f"{type(e).__name__}: {e}"
                # not faster: each failed check adds a warning to the server's log
                await asyncio.sleep(0.2)
        tail = await asyncio.to_thread(_read_tail, self.log_path, self._log_offset)
        raise NatsServerError(f"nats-server {self.name} not healthy after {timeout}s; "
                              f"last {url}: {last}\nlog tail:\n{tail}")

    def _config(self) -> str:
        """The server's config; its format accepts JSON-quoted strings and lists."""
        q = json.dumps
        at = {kind: q(f"{LOOPBACK}:{port}") for kind, port in self._ports.items()}
        lines = [
            f"server_name: {q(self.name)}",
            f"listen: {at['nats']}",
            f"http: {at['monitoring']}",
            f"ports_file_dir: {q(str(self.ports_dir))}",
            f"log_file: {q(str(self.log_path))}",
            # rotate, keeping a few old files: a node may run for months
            "logfile_size_limit: 10MB", "logfile_max_num: 3",
            "max_payload: 1MB",
            # sync_interval always: a PubAck means the record is on disk
            f"jetstream {{ store_dir: {q(str(self.store_dir))}, sync_interval: always,",
            "  max_memory_store: 64MB, max_file_store: 2GB"
            + ("" if self.jetstream_domain is None else f", domain: {q(self.jetstream_domain)}")
            + " }",
        ]
        if self.cluster_name is not None:
            # no_advertise: a client learns only its own server, so a space's node never
            # fails over to another space's server without anyone noticing.
            lines.append(f"cluster {{ name: {q(self.cluster_name)}, listen: {at['cluster']},"
                         f" routes: {q(list(self.routes))}, no_advertise: true }}")
        return "\n".join(lines) + "\n"

    def _prepare(self) -> int:
        """Write the config, clear stale ports files; return the log's current size."""
        self.ports_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.ports_dir.glob("*.ports"):  # left behind by a SIGKILLed server
            _reap_orphan(stale, self.config_path)
            stale.unlink(missing_ok=True)
        self.config_path.write_text(self._config())
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def _read_ports(self, pid: int) -> dict[str, int] | None:
        """The ports from the file nats-server writes once listening, ``<exe>_<pid>.ports``:
        ``{"nats": ["nats://127.0.0.1:4222"], "monitoring": [...], "cluster": [...]}``."""
        for path in self.ports_dir.glob(f"*_{pid}.ports"):
            try:
                data = json.loads(path.read_text())
                return {key: int(urls[0].rsplit(":", 1)[1]) for key, urls in data.items()}
            except (OSError, ValueError, LookupError, AttributeError):  # still being written
                return None
        return None

    async def _spawn(self) -> None:
        binary = await asyncio.to_thread(find_binary, self._binary)
        self._log_offset = await asyncio.to_thread(self._prepare)
        # Anything printed before the server opens log_file (a config error, say) lands
        # in the same file: nothing is lost and no pipe can fill up and block the server.
        log = await asyncio.to_thread(self.log_path.open, "ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                binary, "-c", str(self.config_path),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                # Its own session: a Ctrl-C in the operator's terminal reaches the node,
                # which stops the server in order, not the server behind the node's back.
                start_new_session=True)
        finally:
            log.close()
        self._proc = proc
        try:
            ports = await self._wait_for_ports(proc)
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            self._proc = None
            raise
        self._ports.update((k, v) for k, v in ports.items() if k in self._ports)
        logger.info("nats-server %s listening on %s (pid %d, log %s)",
                    self.name, self.client_url, proc.pid, self.log_path)

    async def _wait_for_ports(self, proc: asyncio.subprocess.Process) -> dict[str, int]:
        """Wait for the ports file, which the server writes once all its listeners are up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_TIMEOUT
        while (ports := await asyncio.to_thread(self._read_ports, proc.pid)) is None:
            tail = await asyncio.to_thread(_read_tail, self.log_path, self._log_offset)
            fatal = [line.split("[FTL] ", 1)[1] for line in tail.splitlines()
                     if "[FTL] " in line]
            if proc.returncode is not None or fatal or loop.time() > deadline:
                why = (f"failed: {fatal[-1]}" if fatal
                       else f"exited with code {proc.returncode}" if proc.returncode is not None
                       else f"bound no ports within {_START_TIMEOUT}s")
                asked = ", ".join(f"{k} port {v}" for k, v in self._ports.items())
                raise NatsServerError(f"nats-server {self.name} {why} ({asked}; -1 = random)"
                                      f"\nlog tail ({self.log_path}):\n{tail}")
            await asyncio.sleep(_POLL)
        return ports

    async def _stop_supervising(self) -> None:
        task, self._supervisor = self._supervisor, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _supervise(self) -> None:
        """Restart the server on the same ports whenever it dies without being asked to.
        stop() and kill() cancel this task before they touch the process, so any exit seen
        here is unexpected; a restart cut short by that cancel kills its own process."""
        loop, backoff = asyncio.get_running_loop(), _BACKOFF_FIRST
        while (proc := self._proc) is not None:
            started = loop.time()
            code = await proc.wait()
            if loop.time() - started > _STABLE_UPTIME:
                backoff = _BACKOFF_FIRST
            self._proc = None
            tail = await asyncio.to_thread(_read_tail, self.log_path, self._log_offset)
            logger.warning("nats-server %s exited unexpectedly with code %s; restarting "
                           "in %.1fs. Log tail:\n%s", self.name, code, backoff, tail)
            while self._proc is None:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                try:
                    await self._spawn()
                except NatsServerError as e:
                    logger.warning("restarting nats-server %s failed; next try in %.1fs: %s",
                                   self.name, backoff, e)
            logger.warning("nats-server %s restarted", self.name)


def _reap_orphan(ports_file: Path, config: Path) -> None:
    """Stop a server left running by a node that was SIGKILLed, if it is still ours.

    Its ports file names its pid; it is ours if its command line names our config file.
    Without this, a restarted node would start a second server on the same store dir.
    """
    try:
        pid = int(ports_file.stem.rsplit("_", 1)[1])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (IndexError, ValueError, OSError):
        return
    if str(config).encode() not in cmdline:
        return
    logger.warning("stopping nats-server pid %d left over from an earlier run", pid)
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists() or b"" == _proc_state(pid):
                return
            time.sleep(0.05)


def _proc_state(pid: int) -> bytes:
    """b"" once the process is gone or a zombie (a zombie holds no ports or files)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return b""
    state = stat.rsplit(b")", 1)[1].split()[0]
    return b"" if state in (b"Z", b"X") else state
