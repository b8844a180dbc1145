"""Propagation benchmark: hitode nodes against the raw stack, in one run, on one cluster.

    .venv/bin/python bench/propagation.py [--records N] [--quick] [--keep] [--profile DIR]

One 3-server NatsCluster on loopback (stream R3, `sync_interval: always`) carries, one
after the other so that both see the same machine:

raw   the stack with no hitode code (bench/_raw.py): one publisher process with 500
      `js.publish` in flight, two consumer processes `fetch(500)` -> verify -> decode ->
      one aiosqlite transaction per batch (WAL, synchronous=FULL) -> ack; N records of
      the node's own envelope size. Then "raw-lean": the same through the stack's lowest
      level (publish_async, bare MSG.NEXT requests), printed beside it as the ceiling.
node  three `python -m node run` processes (kobe, sapporo, hakodate), each on its own
      server, as in production. N versions of kobe's "space" profile are signed and
      queued with the node's own `outbox.append` before kobe starts; the clock runs from
      kobe's relay putting the first record on the bus to sapporo and hakodate both
      holding all N (contiguous chain seq, read from their SQLite files read-only):
      outbox -> relay -> JetStream -> consumers -> verify -> apply -> commit -> ack.

Then end-to-end latency through the whole write path: HTTP PUT /api/space at kobe (one
record per PUT), paced at 100/s and then saturated, from each record's signed
`created_at` to the moment it is visible in each receiver's SQLite, split at the moment
it appears on the bus. Last, the idle RSS of each node process and of its nats-server.
Everything started is stopped at the end and the temp dir removed (unless --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _harness import (ROOT, Child, CpuMeter, Profiler, Progress, Reader, first_message, pct,
                      rss_mib, say, wait_all)

if str(ROOT) not in sys.path:  # `python bench/propagation.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
import nats  # noqa: E402

from _raw import run_raw  # noqa: E402

NAMES = ("kobe", "sapporo", "hakodate")  # kobe writes; the others receive
TARGET_RATIO, TARGET_P99_MS, TARGET_RSS_MIB = 0.7, 100.0, 60.0
PACED_IN_FLIGHT, SATURATION_IN_FLIGHT = 16, 8  # concurrent PUTs at kobe
# INFO lines of a node's log that bear on the figures (warnings and errors are always kept)
NOTABLE = ("fetch failed", "re-binding", "cannot bind", "publish of", "quarantined", "ALERT")


@dataclasses.dataclass
class Results:
    n: int
    envelope_bytes: int = 0
    raw_rate: float = 0.0
    raw_wall: float = 0.0
    raw_others: float = 0.0
    lean_rate: float = 0.0
    lean_wall: float = 0.0
    node_rate: float = 0.0
    node_wall: float = 0.0
    node_others: float = 0.0
    node_repairs: int = 0
    node_each: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    latency: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    rss_fresh: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    rss_after: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)


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


async def latency_run(kobe: Space, receivers: list[Space], http: Any, nc: Any, meter: CpuMeter, *,
                      rate: float | None, in_flight: int, duration: float, label: str) -> dict[str, float]:
    """PUT kobe's profile for `duration` s, while polling each receiver's chain every 2 ms
    and noting when each record is on the bus; return latency figures in ms.

    rate: PUTs sent on a fixed schedule (open loop), at most `in_flight` at once; None:
    `in_flight` senders back to back (kobe's write path saturated). Concurrent PUTs are a
    supported use: a node serialises edits of its profile (a 5xx here would be a bug)."""
    from schemas.envelope import DOMAIN_TAG, Envelope, Signed

    env_dec, signed_dec = msgspec.msgpack.Decoder(Envelope), msgspec.msgpack.Decoder(Signed)

    def header(raw: bytes) -> Any:
        return signed_dec.decode(env_dec.decode(raw).signed[len(DOMAIN_TAG):]).header

    readers = {s.name: Reader(s.db) for s in receivers}
    logs = {s.name: s.log_size() for s in receivers}
    kobe_db = Reader(kobe.db)
    start_seq = chain_seq(kobe_db)
    on_bus: dict[int, float] = {}

    async def bus_cb(msg: Any) -> None:
        on_bus.setdefault(header(msg.data).seq, time.time())

    bus_sub = await nc.subscribe("hitode.pub.space.kobe", cb=bus_cb)
    await nc.flush()
    seen: dict[str, dict[int, float]] = {r: {} for r in readers}
    commits = {r: 0 for r in readers}
    last = {r: chain_seq(rd) for r, rd in readers.items()}
    stop = asyncio.Event()

    async def poll() -> None:
        while not stop.is_set():
            now = time.time()
            for r, rd in readers.items():
                s = chain_seq(rd)
                if s > last[r]:
                    commits[r] += 1
                    seen[r].update((q, now) for q in range(last[r] + 1, s + 1))
                    last[r] = s
            await asyncio.sleep(0.002)

    poller = asyncio.create_task(poll())
    headers = {"Authorization": f"Bearer {kobe.token}"}
    errors: dict[int, int] = {}
    rtts: list[float] = []
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(in_flight)
    puts: set[asyncio.Task[None]] = set()

    async def put(i: int) -> None:
        t = loop.time()
        try:
            async with http.put(kobe.url + "/api/space", json={"hours": f"{label} {i}"},
                                headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    errors[resp.status] = errors.get(resp.status, 0) + 1
        finally:
            rtts.append((loop.time() - t) * 1000)
            sem.release()

    t_start = loop.time()
    meter.start()
    try:
        sent = 0
        while loop.time() - t_start < duration:
            if rate is not None and (due := t_start + sent / rate) > loop.time():
                await asyncio.sleep(due - loop.time())
            await sem.acquire()
            task = asyncio.create_task(put(sent))
            puts.add(task)
            task.add_done_callback(puts.discard)
            sent += 1
        await asyncio.gather(*puts)
        wall = loop.time() - t_start
        meter.stop()
        end_seq = chain_seq(kobe_db)
        await wait_all(readers, chain_seq, end_seq, f"{label} drain", timeout=60, interval=0.005)
        await asyncio.sleep(0.02)
    finally:
        stop.set()
        await poller
        await bus_sub.unsubscribe()
        for rd in readers.values():
            rd.close()
    created = {seq: header(raw).created_at.timestamp() for seq, raw in kobe_db.conn.execute(
        "SELECT seq, raw FROM log WHERE author = 'kobe' AND channel = 'pub' AND seq > ? AND seq <= ?",
        (start_seq, end_seq))}
    kobe_db.close()
    pairs = [(r, q) for r in readers for q in created if q in seen[r]]
    lat = sorted((seen[r][q] - created[q]) * 1000 for r, q in pairs)
    relay = sorted((on_bus[q] - created[q]) * 1000 for q in created if q in on_bus)
    # visible before kobe's relay published it: a receiver got it by sync RPC (gap repair)
    early = sum(1 for r, q in pairs if q in on_bus and seen[r][q] < on_bus[q])
    apply = sorted((seen[r][q] - on_bus[q]) * 1000 for r, q in pairs if q in on_bus and seen[r][q] >= on_bus[q])
    rtts.sort()
    records = end_seq - start_seq
    out = {
        "records": records, "rate": records / wall, "errors": sum(errors.values()),
        "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99), "max": lat[-1] if lat else float("nan"),
        "put_p50": pct(rtts, 50), "put_p99": pct(rtts, 99),
        "relay_p50": pct(relay, 50), "relay_p99": pct(relay, 99),
        "apply_p50": pct(apply, 50), "apply_p99": pct(apply, 99), "early": early,
        "per_commit": records * len(readers) / max(1, sum(commits.values())),
        "repairs": sum(s.sync_repairs(logs[s.name]) for s in receivers),
    }
    say(f"{label}: {records} PUTs in {wall:.1f}s ({out['rate']:.0f}/s), non-200: {errors or 0};"
        f" PUT round trip p50 {out['put_p50']:.1f} ms, p99 {out['put_p99']:.1f} ms")
    say(f"{label}: created_at -> visible at {', '.join(readers)}: p50 {out['p50']:.1f} ms,"
        f" p90 {out['p90']:.1f} ms, p99 {out['p99']:.1f} ms, max {out['max']:.1f} ms")
    say(f"{label}:   created_at -> on the bus (kobe's relay) p50 {out['relay_p50']:.1f} ms,"
        f" p99 {out['relay_p99']:.1f} ms; on the bus -> visible p50 {out['apply_p50']:.1f} ms,"
        f" p99 {out['apply_p99']:.1f} ms; {out['per_commit']:.1f} records per receiver commit;"
        f" {out['repairs']} gap repairs by sync RPC; {early} (record, receiver) visible before"
        " the relay published the record")
    say(f"{label}: " + meter.line(wall))
    return out


async def run_nodes(cluster: Any, spaces: dict[str, Space], n: int, res: Results,
                    args: argparse.Namespace) -> None:
    import aiohttp

    kobe, receivers = spaces["kobe"], [s for name, s in spaces.items() if name != "kobe"]
    prof = Profiler(args.profile)
    idle_s = args.idle_seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        nc = await nats.connect(cluster["kobe"].client_url)
        readers: dict[str, Reader] = {}
        try:
            say("node: starting sapporo and hakodate (python -m node run), each on its own server")
            for s in receivers:
                await s.start()
            for s in receivers:
                await s.ready(http)
            say(f"node: receivers up (pids {', '.join(str(s.child.pid) for s in receivers)});"
                f" idle {idle_s:.0f}s, then RSS")
            await asyncio.sleep(idle_s)
            for s in receivers:
                res.rss_fresh[s.name] = (rss_mib(s.child.pid), rss_mib(cluster[s.name].pid))

            readers = {s.name: Reader(s.db) for s in receivers}
            logs = {s.name: s.log_size() for s in receivers}
            t0_fut = await first_message(nc, "hitode.pub.space.kobe")
            say(f"node: starting kobe with {n} records waiting in its outbox")
            t_spawn = time.time()
            await kobe.start()
            pids = {s.name: s.child.pid for s in spaces.values()}
            meter = CpuMeter({**pids, **{f"nats-{s}": cluster[s].pid for s in spaces}})
            meter.start()
            t0 = await asyncio.wait_for(t0_fut, 60)
            await prof.start("throughput", pids)
            say(f"node: kobe (pid {kobe.child.pid}) put its first record on the bus"
                f" {t0 - t_spawn:.2f}s after spawn; the clock starts")
            progress = Progress()
            t_end = await wait_all(readers, chain_seq, n, "node applied", timeout=max(180, n / 50),
                                   progress=progress)
            meter.stop()
            await prof.stop()
            res.node_wall = t_end - t0
            res.node_rate = n / res.node_wall
            res.node_others = meter.others()
            res.node_repairs = sum(s.sync_repairs(logs[s.name]) for s in receivers)
            say(f"node: {n} records applied at every receiver in {res.node_wall:.2f}s"
                f" = {res.node_rate:,.0f} records/s")
            for name, at in progress.done_at.items():
                res.node_each[name] = (n / (at - t0), progress.stall.get(name, 0.0))
                say(f"node:   {name} held all N after {at - t0:.2f}s = {n / (at - t0):,.0f} records/s;"
                    f" longest spell without progress {progress.stall.get(name, 0.0):.1f}s")
            say("node: " + meter.line(res.node_wall))
            t_q = await quiesce(spaces, nc)
            for s in spaces.values():
                if not s.url:
                    await s.ready(http)
                c = await s.counters(http)
                line = (f"applied {c.get('records_applied', 0):.0f}, duplicates {c.get('records_duplicate', 0):.0f},"
                        f" sync requests answered by a peer {c.get('sync_requests_repaired', 0):.0f},"
                        f" sync requests served {c.get('sync_served', 0):.0f},"
                        f" relay publish errors {c.get('relay_errors', 0):.0f}")
                say(f"node:   {s.name} counters since start: {line}")
                res.notes.append(f"{s.name} after the throughput run: {line}")
            res.notes.append(f"every node's pub consumer had consumed the whole stream {t_q - t_end:.1f}s"
                             f" after the receivers held all N (kobe takes its own {n} back as duplicates, unverified)")

            say(f"latency: PUT /api/space at kobe paced at {args.rate:.0f}/s (open loop, at most"
                f" {PACED_IN_FLIGHT} in flight) for {args.paced_seconds:.0f}s")
            await prof.start("paced", pids)
            res.latency["paced"] = await latency_run(
                kobe, receivers, http, nc, meter, rate=args.rate, in_flight=PACED_IN_FLIGHT,
                duration=args.paced_seconds, label="paced")
            await prof.stop()
            await quiesce(spaces, nc)
            say(f"latency: PUT /api/space at kobe, {SATURATION_IN_FLIGHT} senders back to back"
                f" (saturation) for {args.saturation_seconds:.0f}s")
            res.latency["saturated"] = await latency_run(
                kobe, receivers, http, nc, meter, rate=None, in_flight=SATURATION_IN_FLIGHT,
                duration=args.saturation_seconds, label="saturated")
            await quiesce(spaces, nc)
            say(f"idle: {idle_s:.0f}s, then RSS of every node and its nats-server")
            idle = CpuMeter(pids)
            idle.start()
            await asyncio.sleep(idle_s)
            idle.stop()
            res.notes.append("CPU of the idle nodes: " + ", ".join(
                f"{k} {100 * v / idle_s:.1f} %" for k, v in idle.used.items()) + f" of one core over {idle_s:.0f}s")
            for s in spaces.values():
                res.rss_after[s.name] = (rss_mib(s.child.pid), rss_mib(cluster[s.name].pid))
        finally:
            for rd in readers.values():
                rd.close()
            await prof.stop()
            await nc.close()
            say("node: stopping the nodes")
            await asyncio.gather(*(s.child.stop() for s in spaces.values()))


def notable(spaces: dict[str, Space], res: Results) -> None:
    """Count what each node logged that bears on the figures, by message, numbers blanked."""
    for name, s in spaces.items():
        kinds: dict[str, tuple[int, str]] = {}
        try:
            lines = s.child.log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            m = re.match(r"(\S+) (WARNING|ERROR|CRITICAL|INFO)\s+(\S+): (.*)", line)
            if m is None or (m.group(2) == "INFO" and not any(k in line for k in NOTABLE)):
                continue
            text = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+(\.\d+)?", "#", m.group(4))[:120]
            key = f"{m.group(2)} {text}"
            count, first = kinds.get(key, (0, m.group(1)))
            kinds[key] = (count + 1, first)
        for key, (count, first) in sorted(kinds.items(), key=lambda kv: -kv[1][0])[:6]:
            res.notes.append(f"{name} logged {count} x (first at {first}) {key}")


def report(res: Results, args: argparse.Namespace) -> None:
    def row(label: str, node: str, raw: str = "-", ratio: str = "") -> None:
        print(f"  {label:<52} {node:>13} {raw:>10} {ratio:>6}")

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    ratio = res.node_rate / res.raw_rate if res.raw_rate else float("nan")
    print()
    print(f"hitode propagation bench: N={res.n} records of {res.envelope_bytes} B; 3 nats-servers on"
          f" loopback (stream R3, sync_interval always); {os.cpu_count()} cores")
    row("", "node", "raw", "ratio")
    row("propagation, records/s (outbox -> applied on all)", f"{res.node_rate:,.0f}",
        f"{res.raw_rate:,.0f}", f"{ratio:.2f}")
    row("  seconds for N", f"{res.node_wall:.2f}", f"{res.raw_wall:.2f}")
    lean_ratio = res.node_rate / res.lean_rate if res.lean_rate else float("nan")
    row("  against raw-lean (publish_async + bare MSG.NEXT)", "", f"{res.lean_rate:,.0f}", f"{lean_ratio:.2f}")
    for name, (rate, stall) in res.node_each.items():
        row(f"  {name}: records/s (its longest stall, s)", f"{rate:,.0f} ({stall:.1f})")
    row("  gap repairs by sync RPC at the receivers", f"{res.node_repairs}")
    row("  CPU s other processes took meanwhile", f"{res.node_others:.1f}", f"{res.raw_others:.1f}")
    for key, title in (("paced", f"paced at {args.rate:.0f}/s"),
                       ("saturated", f"{SATURATION_IN_FLIGHT} back to back")):
        lat = res.latency.get(key)
        if lat:
            row(f"latency, PUTs at kobe {title}: achieved rate", f"{lat['rate']:.0f}/s")
            row("  PUTs that did not answer 200", f"{lat['errors']:.0f}")
            row("  PUT round trip p50 / p99 ms", f"{lat['put_p50']:.1f} / {lat['put_p99']:.1f}")
            row("  created_at -> visible at receivers p50 ms", f"{lat['p50']:.1f}")
            row("  created_at -> visible at receivers p99 ms", f"{lat['p99']:.1f}")
            row("  created_at -> visible at receivers max ms", f"{lat['max']:.1f}")
            row("    created_at -> on the bus p50 / p99 ms", f"{lat['relay_p50']:.0f} / {lat['relay_p99']:.0f}")
            row("    on the bus -> visible p50 / p99 ms", f"{lat['apply_p50']:.0f} / {lat['apply_p99']:.0f}")
            row("    visible before the relay sent it (by sync)", f"{lat['early']:.0f}")
            row("  records per receiver commit; gap repairs", f"{lat['per_commit']:.1f}; {lat['repairs']:.0f}")
    row("idle RSS MiB (node process / its nats-server)", "", "", "")
    for when, table in (("fresh", res.rss_fresh), ("after the runs", res.rss_after)):
        for name, (node_rss, srv_rss) in table.items():
            row(f"  {name}, {when}", f"{node_rss:.1f} / {srv_rss:.1f}")
    paced = res.latency.get("paced", {})
    p99 = paced.get("p99", float("nan"))
    rss = [v[0] for v in (*res.rss_fresh.values(), *res.rss_after.values())]
    idle = max(rss) if rss else float("nan")
    print()
    print("targets")
    print(f"  propagation >= {TARGET_RATIO} x raw baseline    {ratio:8.2f} x    {verdict(ratio >= TARGET_RATIO)}")
    reached = bool(paced) and paced["rate"] >= 0.95 * args.rate
    print(f"  p99 < {TARGET_P99_MS:.0f} ms at {args.rate:.0f} records/s     {p99:8.0f} ms   "
          f"{verdict(p99 < TARGET_P99_MS and reached)}"
          + ("" if reached or not paced else
             f"  ({args.rate:.0f}/s not reached: {paced['rate']:.0f}/s with up to {PACED_IN_FLIGHT} in flight)"))
    fresh = max((v[0] for v in res.rss_fresh.values()), default=float("nan"))
    print(f"  idle node <= {TARGET_RSS_MIB:.0f} MiB RSS           {idle:8.1f} MiB  {verdict(idle <= TARGET_RSS_MIB)}"
          f"  (node process, worst of all; fresh {fresh:.1f} MiB)")
    print()
    print("how it was measured")
    print("  propagation: N versions of kobe's space profile signed and queued in kobe's SQLite with the")
    print("    node's own outbox.append before kobe starts (not timed); the clock runs from kobe's relay")
    print("    putting the first record on the bus until sapporo AND hakodate hold seq N (chain seq in their")
    print("    SQLite, read-only, polled every 10 ms). kobe also consumes its own records, as every node")
    print("    does (it skips their signature check). raw: same N, same envelope size, pre-signed, same")
    print("    cluster and process layout: 500 js.publish in flight, 2 consumer processes fetch(500) ->")
    print("    verify -> decode -> 1 aiosqlite transaction (WAL, synchronous=FULL) per batch -> ack each.")
    print("    raw-lean: the same with publish_async and bare MSG.NEXT no_wait requests (what node.pull")
    print("    does) instead of nats-py's publish/fetch: the stack's ceiling. The target is against raw.")
    print(f"  latency: HTTP PUT /api/space at kobe, each PUT = one record; paced = sent on schedule (open")
    print(f"    loop, up to {PACED_IN_FLIGHT} in flight), saturation = {SATURATION_IN_FLIGHT} senders back to back; from the record's")
    print("    signed created_at (stamped inside kobe's write transaction: kobe's commit counts, HTTP parsing")
    print("    does not) to first seen in each receiver's SQLite (polled every 2 ms), over both receivers;")
    print("    'on the bus' = when the bench's own core subscription to kobe's subject saw the record.")
    print("  RSS: VmRSS from /proc/<pid>/status after idling; 'fresh' = receivers before any record of kobe.")
    print("  CPU s other processes took: machine busy time (/proc/stat) minus this bench's processes;")
    print("    a large figure means the run was disturbed by other work on the machine.")
    for note in res.notes:
        print(f"  note: {note}")


async def bench(args: argparse.Namespace) -> Results:
    from node.bus.connection import stream_config
    from node.bus.cluster import NatsCluster

    res = Results(n=args.records)
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM unwinds like Ctrl-C, so every process started here is still stopped
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    work = Path(tempfile.mkdtemp(prefix="hitode-bench-"))
    say(f"work dir {work}; N={args.records}{' (quick)' if args.quick else ''}")
    spaces: dict[str, Space] = {}
    try:
        async with NatsCluster(work / "cluster", list(NAMES)) as cluster:
            say("cluster: 3 nats-servers healthy (" + ", ".join(
                f"{s} pid {cluster[s].pid}" for s in NAMES) + ")")
            spaces = {name: Space(work, name, cluster[name].client_url) for name in NAMES}
            t = time.time()
            res.envelope_bytes = await prefill(spaces["kobe"].dir, args.records)
            say(f"kobe: {args.records} records signed and queued in its outbox in {time.time() - t:.1f}s"
                f" ({res.envelope_bytes} B each)")
            raw = await run_raw({s: cluster[s] for s in NAMES}, stream_config(3), work, args.records,
                                res.envelope_bytes)
            res.raw_rate, res.raw_wall, res.raw_others = raw.rate, raw.wall, raw.others
            lean = await run_raw({s: cluster[s] for s in NAMES}, stream_config(3), work, args.records,
                                 res.envelope_bytes, lean=True)
            res.lean_rate, res.lean_wall = lean.rate, lean.wall
            await run_nodes(cluster, spaces, args.records, res, args)
        say("cluster stopped")
        notable(spaces, res)
    finally:
        if args.keep:
            say(f"kept {work} (node logs in <space>/node.log)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return res


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--records", type=int, help="N for the throughput runs (default 20000; --quick 2000)")
    p.add_argument("--quick", action="store_true", help="a short smoke run (~30 s)")
    p.add_argument("--rate", type=float, default=100.0, help="paced PUTs per second (default 100)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (node logs, databases)")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="record the nodes with py-spy (collapsed stacks per phase) into DIR")
    p.add_argument("--paced-seconds", type=float, help="default 10 (--quick 3)")
    p.add_argument("--saturation-seconds", type=float, help="default 10 (--quick 2)")
    p.add_argument("--idle-seconds", type=float, help="default 5 (--quick 2)")
    args = p.parse_args(argv)
    q = args.quick
    args.records = args.records or (2000 if q else 20000)
    args.paced_seconds = args.paced_seconds or (3.0 if q else 10.0)
    args.saturation_seconds = args.saturation_seconds or (2.0 if q else 10.0)
    args.idle_seconds = args.idle_seconds or (2.0 if q else 5.0)
    t = time.time()
    try:
        res = asyncio.run(bench(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; everything the bench started was stopped", file=sys.stderr)
        return 130
    report(res, args)
    print(f"\nbench took {time.time() - t:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
