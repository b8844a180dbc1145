"""The latency phases: records written one at a time through kobe's whole write path.

HTTP PUT /api/space at kobe (one record per PUT), either paced (open loop, on a fixed
schedule) or saturated (senders back to back); from each record's signed `created_at` to
the moment it is visible in each receiver's SQLite, split at the moment it appears on the
bus. Beside it, what each receiving node process spent in CPU per record while records
came one at a time: user + system time from the first PUT until both receivers hold the
last record, divided by the records written in that window.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import msgspec

from _harness import CpuMeter, Reader, pct, say, wait_all
from _nodes import Space, chain_seq

PACED_IN_FLIGHT, SATURATION_IN_FLIGHT = 16, 8  # concurrent PUTs at kobe


@dataclasses.dataclass
class Latency:
    """One phase's figures: latencies in ms (and counts) by name, CPU ms per record by receiver."""

    label: str
    rate: float | None  # asked for; None: saturated
    figures: dict[str, float]
    cpu_ms: dict[str, float]

    def __getitem__(self, key: str) -> float:
        return self.figures[key]


async def latency_run(kobe: Space, receivers: list[Space], http: Any, nc: Any, meter: CpuMeter, *,
                      rate: float | None, in_flight: int, duration: float, label: str) -> Latency:
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

    # The receivers' CPU window: from the first PUT until both hold the last record.
    cpu = CpuMeter({s.name: s.child.pid for s in receivers})
    t_start = loop.time()
    meter.start()
    cpu.start()
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
        cpu.stop()
        cpu_wall = loop.time() - t_start
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
    cpu_ms = {name: 1000 * used / max(1, records) for name, used in cpu.used.items()}
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
    say(f"{label}: receivers' CPU over {cpu_wall:.1f}s (first PUT to the last record held): "
        + ", ".join(f"{k} {v:.2f}s = {cpu_ms[k]:.2f} ms/record" for k, v in cpu.used.items()))
    return Latency(label, rate, out, cpu_ms)
