"""What the benchmarks measure with: child processes, /proc readings, read-only SQLite
polling, percentiles and an optional py-spy recorder. No hitode code in here."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")

__all__ = ["ROOT", "say", "rss_mib", "CpuMeter", "Child", "Reader", "Progress", "wait_all",
           "first_message", "pct", "Profiler"]


def say(msg: str) -> None:
    """One progress line, timestamped, flushed at once."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pct(sorted_values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of already sorted values; nan if there are none."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


# /proc readings


def rss_mib(pid: int | None) -> float:
    """VmRSS of a process in MiB (nan if it is gone)."""
    if pid is None:
        return float("nan")
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process so far."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (first line of /proc/stat)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / TICK  # all but idle and iowait


class CpuMeter:
    """CPU seconds each named process spends between start() and stop(), and how much the
    rest of the machine (other people's processes) took meanwhile: on a shared 2-core box
    that tells a slow run from a disturbed one."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self._before: dict[str, float] = {}
        self.used: dict[str, float] = {}
        self._machine = self._me = 0.0

    def start(self) -> None:
        self._before = {k: _cpu_s(p) for k, p in self.pids.items()}
        self._machine, self._me = _machine_busy_s(), time.process_time()

    def stop(self) -> None:
        self.used = {k: _cpu_s(p) - self._before[k] for k, p in self.pids.items()}
        self._machine = _machine_busy_s() - self._machine
        self._me = time.process_time() - self._me

    def others(self) -> float:
        return max(0.0, self._machine - sum(self.used.values()) - self._me)

    def line(self, wall: float) -> str:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in self.used.items())
        return (f"CPU seconds over {wall:.1f}s wall ({(os.cpu_count() or 1) * wall:.1f}s available):"
                f" {parts}, bench {self._me:.1f}s; everything else on the machine {self.others():.1f}s")


# child processes


class Child:
    """A child process run with this venv's Python, stderr (and stdout unless piped) to a
    log file; a piped stdout is read as JSON lines (events) so it can never fill up."""

    def __init__(self, name: str, log: Path) -> None:
        self.name, self.log = name, log
        self.proc: asyncio.subprocess.Process | None = None
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def start(self, *args: str, pipe: bool = True) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, *args, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if pipe else log, stderr=log)
        if pipe:
            self._reader = asyncio.create_task(self._read())

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                await self._events.put(json.loads(line))

    async def event(self, key: str, timeout: float) -> dict[str, Any]:
        """The next event that has `key`; raises with the log's tail after `timeout`."""
        while True:
            try:
                ev = await asyncio.wait_for(self._events.get(), timeout)
            except TimeoutError:
                raise RuntimeError(f"{self.name}: no {key!r} within {timeout}s\n{self.tail()}") from None
            if key in ev:
                return ev

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    async def stop(self, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL after `timeout`; harmless when already stopped."""
        p = self.proc
        if p is not None and p.returncode is None:
            p.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(p.wait(), timeout)
            except TimeoutError:
                p.kill()
                await p.wait()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


# reading other processes' SQLite files


class Reader:
    """A read-only connection to another process's SQLite database (WAL lets it read while
    that process writes). Queries are tiny and run on the event loop's thread."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            row = self.conn.execute(sql, params).fetchone()
        except sqlite3.OperationalError:  # busy for an instant, or the table is not there yet
            return None
        return None if row is None else row[0]

    def close(self) -> None:
        self.conn.close()


@dataclasses.dataclass
class Progress:
    """What wait_all saw: when each reader got there, and its longest spell without progress."""

    done_at: dict[str, float] = dataclasses.field(default_factory=dict)
    stall: dict[str, float] = dataclasses.field(default_factory=dict)


async def wait_all(readers: dict[str, Reader], query: Callable[[Reader], int], n: int, what: str,
                   timeout: float, interval: float = 0.01, progress: Progress | None = None) -> float:
    """Poll until every reader's `query(reader)` reaches n, printing progress each second;
    return the wall time it happened."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    printed = 0.0
    seen = {k: (-1, time.time()) for k in readers}
    while True:
        counts = {k: query(r) for k, r in readers.items()}
        now = time.time()
        if progress is not None:
            for k, c in counts.items():
                if c != seen[k][0]:
                    progress.stall[k] = max(progress.stall.get(k, 0.0), now - seen[k][1])
                    seen[k] = (c, now)
                if c >= n:
                    progress.done_at.setdefault(k, now)
        if all(c >= n for c in counts.values()):
            return now
        if loop.time() > deadline:
            raise RuntimeError(f"{what}: not all at {n} after {timeout}s: {counts}")
        if now - printed >= 1.0:
            say(f"  {what}: " + ", ".join(f"{k} {c}/{n}" for k, c in counts.items()))
            printed = now
        await asyncio.sleep(interval)


async def first_message(nc: Any, subject: str) -> asyncio.Future[float]:
    """A future set to the wall time the first message on `subject` reaches this process
    (a core NATS subscription that unsubscribes itself after one message)."""
    fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def cb(msg: Any) -> None:
        if not fut.done():
            fut.set_result(time.time())

    await nc.subscribe(subject, cb=cb, max_msgs=1)
    await nc.flush()
    return fut


class Profiler:
    """py-spy, if installed in this venv, recording processes to collapsed-stack files
    (`--format raw`, all threads): one file per phase and process."""

    def __init__(self, out: Path | None) -> None:
        exe = Path(sys.executable).parent / "py-spy"
        self.out = out if out is not None and exe.exists() else None
        self._exe = str(exe)
        self._running: list[asyncio.subprocess.Process] = []
        if out is not None and self.out is None:
            say("profile: py-spy is not in this venv (.venv/bin/pip install py-spy); not profiling")

    async def start(self, phase: str, pids: dict[str, int | None]) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        for name, pid in pids.items():
            if pid is not None:
                self._running.append(await asyncio.create_subprocess_exec(
                    self._exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                    "--threads", "--output", str(self.out / f"{phase}-{name}.txt"),
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL))

    async def stop(self) -> None:
        procs, self._running = self._running, []
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), 20)
            except TimeoutError:
                p.kill()
                await p.wait()
