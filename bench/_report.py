"""What a propagation run found, the targets it is held to, and the table it prints."""

from __future__ import annotations

import dataclasses
import os
import re

from _latency import PACED_IN_FLIGHT, SATURATION_IN_FLIGHT, Latency
from _nodes import Space

TARGET_RATIO = 0.8  # propagation, node / raw
TARGET_P99_MS = 100.0  # created_at -> visible at the receivers, at each paced rate
TARGET_CPU_MS = 0.7  # CPU per record per receiving node, at each paced rate
TARGET_RSS_MIB = 60.0  # idle node process
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
    raw_paced_rate: float = 0.0
    raw_paced_cpu: dict[str, float] = dataclasses.field(default_factory=dict)  # ms per record
    latency: list[Latency] = dataclasses.field(default_factory=list)
    rss_fresh: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    rss_after: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)


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


def _row(label: str, node: str, raw: str = "-", ratio: str = "") -> None:
    print(f"  {label:<52} {node:>13} {raw:>10} {ratio:>6}")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _latency_rows(lat: Latency, res: Results) -> None:
    title = f"paced at {lat.rate:g}/s" if lat.rate is not None else f"{SATURATION_IN_FLIGHT} back to back"
    _row(f"latency, PUTs at kobe {title}: achieved rate", f"{lat['rate']:.0f}/s")
    _row("  PUTs that did not answer 200", f"{lat['errors']:.0f}")
    _row("  PUT round trip p50 / p99 ms", f"{lat['put_p50']:.1f} / {lat['put_p99']:.1f}")
    _row("  created_at -> visible at receivers p50 ms", f"{lat['p50']:.1f}")
    _row("  created_at -> visible at receivers p99 ms", f"{lat['p99']:.1f}")
    _row("  created_at -> visible at receivers max ms", f"{lat['max']:.1f}")
    _row("    created_at -> on the bus p50 / p99 ms", f"{lat['relay_p50']:.0f} / {lat['relay_p99']:.0f}")
    _row("    on the bus -> visible p50 / p99 ms", f"{lat['apply_p50']:.0f} / {lat['apply_p99']:.0f}")
    _row("    visible before the relay sent it (by sync)", f"{lat['early']:.0f}")
    _row("  records per receiver commit; gap repairs", f"{lat['per_commit']:.1f}; {lat['repairs']:.0f}")
    raw = res.raw_paced_cpu if lat.rate == res.raw_paced_rate else {}
    for name, ms in lat.cpu_ms.items():
        if name in raw:
            _row(f"  {name}: CPU ms per record (raw: one at a time)", f"{ms:.2f}", f"{raw[name]:.2f}",
                 f"{ms / raw[name]:.2f}")
        else:
            _row(f"  {name}: CPU ms per record", f"{ms:.2f}")


def _target(label: str, value: str, ok: bool, extra: str = "") -> None:
    print(f"  {label:<48} {value:>12}   {_verdict(ok)}" + (f"  ({extra})" if extra else ""))


def _paced_targets(lat: Latency) -> None:
    assert lat.rate is not None
    reached = lat["rate"] >= 0.95 * lat.rate
    short = "" if reached else (f"{lat.rate:g}/s not reached: {lat['rate']:.0f}/s with up to"
                                f" {PACED_IN_FLIGHT} in flight")
    p99 = lat["p99"]
    _target(f"p99 < {TARGET_P99_MS:.0f} ms at {lat.rate:g} records/s", f"{p99:.0f} ms",
            p99 < TARGET_P99_MS and reached, short)
    worst = max(lat.cpu_ms.values(), default=float("nan"))
    each = ", ".join(f"{k} {v:.2f}" for k, v in lat.cpu_ms.items())
    _target(f"CPU per record per receiver at {lat.rate:g}/s <= {TARGET_CPU_MS} ms", f"{worst:.2f} ms",
            worst <= TARGET_CPU_MS and reached, f"{each}; the worst counts" + (f"; {short}" if short else ""))


def report(res: Results) -> None:
    ratio = res.node_rate / res.raw_rate if res.raw_rate else float("nan")
    print()
    print(f"hitode propagation bench: N={res.n} records of {res.envelope_bytes} B; 3 nats-servers on"
          f" loopback (stream R3, sync_interval always); {os.cpu_count()} cores")
    _row("", "node", "raw", "ratio")
    _row("propagation, records/s (outbox -> applied on all)", f"{res.node_rate:,.0f}",
         f"{res.raw_rate:,.0f}", f"{ratio:.2f}")
    _row("  seconds for N", f"{res.node_wall:.2f}", f"{res.raw_wall:.2f}")
    lean_ratio = res.node_rate / res.lean_rate if res.lean_rate else float("nan")
    _row("  against raw-lean (publish_async + bare MSG.NEXT)", "", f"{res.lean_rate:,.0f}", f"{lean_ratio:.2f}")
    for name, (rate, stall) in res.node_each.items():
        _row(f"  {name}: records/s (its longest stall, s)", f"{rate:,.0f} ({stall:.1f})")
    _row("  gap repairs by sync RPC at the receivers", f"{res.node_repairs}")
    _row("  CPU s other processes took meanwhile", f"{res.node_others:.1f}", f"{res.raw_others:.1f}")
    for lat in res.latency:
        _latency_rows(lat, res)
    _row("idle RSS MiB (node process / its nats-server)", "", "", "")
    for when, table in (("fresh", res.rss_fresh), ("after the runs", res.rss_after)):
        for name, (node_rss, srv_rss) in table.items():
            _row(f"  {name}, {when}", f"{node_rss:.1f} / {srv_rss:.1f}")
    rss = [v[0] for v in (*res.rss_fresh.values(), *res.rss_after.values())]
    idle = max(rss) if rss else float("nan")
    print()
    print("targets")
    _target(f"propagation >= {TARGET_RATIO} x raw baseline", f"{ratio:.2f} x", ratio >= TARGET_RATIO)
    for lat in res.latency:
        if lat.rate is not None:
            _paced_targets(lat)
    fresh = max((v[0] for v in res.rss_fresh.values()), default=float("nan"))
    _target(f"idle node <= {TARGET_RSS_MIB:.0f} MiB RSS", f"{idle:.1f} MiB", idle <= TARGET_RSS_MIB,
            f"node process, worst of all; fresh {fresh:.1f} MiB")
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
    print("  latency: HTTP PUT /api/space at kobe, each PUT = one record; paced = sent on schedule (open")
    print(f"    loop, up to {PACED_IN_FLIGHT} in flight), saturation = {SATURATION_IN_FLIGHT} senders back to back;"
          " from the record's")
    print("    signed created_at (stamped inside kobe's write transaction: kobe's commit counts, HTTP parsing")
    print("    does not) to first seen in each receiver's SQLite (polled every 2 ms), over both receivers;")
    print("    'on the bus' = when the bench's own core subscription to kobe's subject saw the record.")
    print("  CPU ms per record: user + system time of each receiving node process (/proc/<pid>/stat) from")
    print("    the first PUT until both receivers hold the last record, divided by the records written;")
    print("    everything the node does meanwhile counts (pull heartbeats, presence, checkpoints).")
    print("    raw: the raw consumers (fetch -> verify -> 1 aiosqlite transaction -> ack) with records")
    print("    published one at a time at the same rate, CPU over the run divided by its records.")
    print("  RSS: VmRSS from /proc/<pid>/status after idling; 'fresh' = receivers before any record of kobe.")
    print("  CPU s other processes took: machine busy time (/proc/stat) minus this bench's processes;")
    print("    a large figure means the run was disturbed by other work on the machine.")
    for note in res.notes:
        print(f"  note: {note}")
