"""Propagation benchmark: hitode nodes against the raw stack, in one run, on one cluster.

    .venv/bin/python bench/propagation.py [--records N] [--quick] [--keep] [--profile DIR]

One 3-server NatsCluster on loopback (stream R3, `sync_interval: always`) carries, one
after the other so that both see the same machine:

raw   the stack with no hitode code (bench/_raw.py): one publisher process with 500
      `js.publish` in flight, two consumer processes `fetch(500)` -> verify -> decode ->
      one aiosqlite transaction per batch (WAL, synchronous=FULL) -> ack; N records of
      the node's own envelope size. Then "raw-lean": the same through the stack's lowest
      level (publish_async, bare MSG.NEXT requests), printed beside it as the ceiling.
      Then "raw-paced": one record at a time at the lowest paced rate, the consumers'
      CPU per record beside the nodes'.
node  three `python -m node run` processes (kobe, sapporo, hakodate; bench/_nodes.py),
      each on its own server, as in production. N versions of kobe's "space" profile are
      signed and queued with the node's own `outbox.append` before kobe starts; the clock
      runs from kobe's relay putting the first record on the bus to sapporo and hakodate
      both holding all N (contiguous chain seq, read from their SQLite files read-only):
      outbox -> relay -> JetStream -> consumers -> verify -> apply -> commit -> ack.

Then records one at a time through the whole write path (bench/_latency.py): HTTP PUT
/api/space at kobe, paced at each of --rates (20/s and 100/s) and then saturated: latency
from each record's signed `created_at` to visible in each receiver's SQLite, and the CPU
each receiving node process spent per record. Last, the idle RSS of each node process and
of its nats-server. The table and the targets are bench/_report.py. Everything started is
stopped at the end and the temp dir removed (unless --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _harness import ROOT, CpuMeter, Profiler, Progress, Reader, first_message, rss_mib, say, wait_all

if str(ROOT) not in sys.path:  # `python bench/propagation.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

import nats  # noqa: E402

from _latency import PACED_IN_FLIGHT, SATURATION_IN_FLIGHT, latency_run  # noqa: E402
from _nodes import Space, chain_seq, prefill, quiesce  # noqa: E402
from _raw import run_raw  # noqa: E402
from _report import Results, notable, report  # noqa: E402

NAMES = ("kobe", "sapporo", "hakodate")  # kobe writes; the others receive


async def throughput_run(cluster: Any, spaces: dict[str, Space], n: int, res: Results,
                         nc: Any, http: Any, prof: Profiler) -> None:
    """Start kobe with n records in its outbox; time them until both receivers hold all."""
    kobe, receivers = spaces["kobe"], [s for name, s in spaces.items() if name != "kobe"]
    readers = {s.name: Reader(s.db) for s in receivers}
    try:
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
    finally:
        for rd in readers.values():
            rd.close()
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


async def run_nodes(cluster: Any, spaces: dict[str, Space], n: int, res: Results,
                    args: argparse.Namespace) -> None:
    import aiohttp

    kobe, receivers = spaces["kobe"], [s for name, s in spaces.items() if name != "kobe"]
    prof = Profiler(args.profile)
    idle_s = args.idle_seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        nc = await nats.connect(cluster["kobe"].client_url)
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

            await throughput_run(cluster, spaces, n, res, nc, http, prof)
            pids = {s.name: s.child.pid for s in spaces.values()}
            meter = CpuMeter({**pids, **{f"nats-{s}": cluster[s].pid for s in spaces}})
            for rate in args.rates:
                label = f"paced {rate:g}/s"
                say(f"latency: PUT /api/space at kobe paced at {rate:g}/s (open loop, at most"
                    f" {PACED_IN_FLIGHT} in flight) for {args.paced_seconds:.0f}s")
                await prof.start(f"paced-{rate:g}", pids)
                res.latency.append(await latency_run(
                    kobe, receivers, http, nc, meter, rate=rate, in_flight=PACED_IN_FLIGHT,
                    duration=args.paced_seconds, label=label))
                await prof.stop()
                await quiesce(spaces, nc)
            say(f"latency: PUT /api/space at kobe, {SATURATION_IN_FLIGHT} senders back to back"
                f" (saturation) for {args.saturation_seconds:.0f}s")
            res.latency.append(await latency_run(
                kobe, receivers, http, nc, meter, rate=None, in_flight=SATURATION_IN_FLIGHT,
                duration=args.saturation_seconds, label="saturated"))
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
            await prof.stop()
            await nc.close()
            say("node: stopping the nodes")
            await asyncio.gather(*(s.child.stop() for s in spaces.values()))


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
            # Records one at a time, at the lowest paced rate: what a lone record costs the stack.
            rate = min(args.rates)
            paced = await run_raw({s: cluster[s] for s in NAMES}, stream_config(3), work,
                                  max(20, round(rate * args.paced_seconds)), res.envelope_bytes, rate=rate)
            res.raw_paced_rate, res.raw_paced_cpu = rate, paced.cpu_ms
            await run_nodes(cluster, spaces, args.records, res, args)
        say("cluster stopped")
        notable(spaces, res)
    finally:
        if args.keep:
            say(f"kept {work} (node logs in <space>/node.log)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return res


def _rates(text: str) -> tuple[float, ...]:
    rates = tuple(float(r) for r in text.split(",") if r.strip())
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError("positive rates, comma-separated")
    return rates


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--records", type=int, help="N for the throughput runs (default 20000; --quick 2000)")
    p.add_argument("--quick", action="store_true", help="a short smoke run (~30 s)")
    p.add_argument("--rates", type=_rates, default=(20.0, 100.0), metavar="R,R",
                   help="paced PUTs per second, one paced phase each (default 20,100)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (node logs, databases)")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="record the nodes with py-spy (collapsed stacks per phase) into DIR")
    p.add_argument("--paced-seconds", type=float, help="each paced phase; default 15 (--quick 3)")
    p.add_argument("--saturation-seconds", type=float, help="default 10 (--quick 2)")
    p.add_argument("--idle-seconds", type=float, help="default 5 (--quick 2)")
    args = p.parse_args(argv)
    q = args.quick
    args.records = args.records or (2000 if q else 20000)
    args.paced_seconds = args.paced_seconds or (3.0 if q else 15.0)
    args.saturation_seconds = args.saturation_seconds or (2.0 if q else 10.0)
    args.idle_seconds = args.idle_seconds or (2.0 if q else 5.0)
    t = time.time()
    try:
        res = asyncio.run(bench(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; everything the bench started was stopped", file=sys.stderr)
        return 130
    report(res)
    print(f"\nbench took {time.time() - t:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
