"""The floor under the CPU a lone record costs a receiver: a ladder of bare consumers.

    .venv/bin/python bench/floor.py [--rate 20] [--seconds 20]

One 3-server NatsCluster (stream R3, as propagation.py), one publisher sending the
node's envelope size one record at a time at --rate, and one consumer process per rung,
all taking the same records at once, so that every rung sees the same machine:

core     a core NATS subscription whose callback does nothing: the client library and
         the event loop waking for a message, and nothing else.
ack      a durable pull consumer read the node's way (node.bus.pull: open pull requests,
         one subscription callback), each message acked: what JetStream delivery costs.
verify   ack + the Ed25519 signature checked and the envelope decoded (pynacl, msgspec),
         before the ack.
commit   verify + one SQLite transaction per record on the event loop's thread (WAL,
         synchronous=NORMAL, as the node applies records): the record and the consumer's
         position inserted, then COMMIT, then the ack.
owed     commit, with the acks the node's way (node.federation.applier): owed and paid
         together once 128 are owed or 0.5 s after the first, instead of one ack (and one
         write to the socket) right after each record.

Each rung's CPU (user + system, /proc) over the run, divided by the records it took, is
printed beside the step from the rung below: the node's figure at the same rate
(propagation.py, "CPU ms per record") can be read against `commit`, which does the
least any receiver that keeps the guarantees (verify, commit, then ack) can do, one ack a
record, and `owed` with the node's acks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from _harness import ROOT, Child, CpuMeter, say

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
import nats  # noqa: E402
from nats.aio.msg import Msg  # noqa: E402

STREAM, SUBJECT = "FLOORBENCH", "floorbench.pub.kobe"
RUNGS = ("core", "ack", "verify", "commit", "owed")


class Envelope(msgspec.Struct):
    signed: bytes
    sig: bytes
    key: bytes


async def consume(url: str, rung: str, db: Path) -> None:
    import nacl.signing

    from node.bus.pull import Pull

    nc = await nats.connect(url)
    got = 0
    if rung == "core":
        async def cb(msg: object) -> None:
            nonlocal got
            got += 1

        await nc.subscribe(SUBJECT, cb=cb)
        await nc.flush()
        print('{"ready": true}', flush=True)
        await asyncio.Event().wait()
    decoder = msgspec.msgpack.Decoder(Envelope)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, raw BLOB NOT NULL)")
    conn.execute("CREATE TABLE IF NOT EXISTS positions (consumer TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
    jsm = nc.jsm()
    from nats.js.api import AckPolicy, ConsumerConfig

    await jsm.add_consumer(STREAM, ConsumerConfig(durable_name=rung, filter_subject=SUBJECT,
                                                  ack_policy=AckPolicy.EXPLICIT, ack_wait=30))
    print('{"ready": true}', flush=True)
    loop = asyncio.get_running_loop()
    owed: list[Msg] = []
    since = 0.0
    async with Pull(nc, "$JS.API", STREAM, rung, batch=256) as pull:
        while True:
            within = None if not owed else max(0.0, since + 0.5 - loop.time())
            msgs = await pull.take(256, within)
            if not msgs and owed:
                for o in owed:
                    await o.ack()
                owed = []
            for m in msgs:
                if rung in ("verify", "commit", "owed"):
                    env = decoder.decode(m.data)
                    nacl.signing.VerifyKey(env.key).verify(env.signed, env.sig)
                if rung in ("commit", "owed"):
                    seq = m.metadata.sequence.stream
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("INSERT OR IGNORE INTO log (seq, raw) VALUES (?, ?)", (seq, m.data))
                    conn.execute("INSERT INTO positions (consumer, seq) VALUES (?, ?) ON CONFLICT (consumer)"
                                 " DO UPDATE SET seq = excluded.seq", (rung, seq))
                    conn.execute("COMMIT")
                if rung != "owed":
                    await m.ack()
                    continue
                if not owed:
                    since = loop.time()
                owed.append(m)
                if len(owed) >= 128 or loop.time() - since >= 0.5:
                    for o in owed:
                        await o.ack()
                    owed = []


async def bench(rate: float, seconds: float, size: int) -> None:
    import nacl.signing

    from node.bus.cluster import NatsCluster
    from node.bus.connection import stream_config

    work = Path(tempfile.mkdtemp(prefix="hitode-floor-"))
    children: list[Child] = []
    try:
        async with NatsCluster(work / "cluster", ["kobe", "sapporo", "hakodate"]) as cluster:
            nc = await nats.connect(cluster["kobe"].client_url)
            cfg = stream_config(3)
            cfg.name, cfg.subjects = STREAM, [SUBJECT]
            await nc.jsm().add_stream(cfg)
            servers = ["sapporo", "hakodate"]  # rungs alternate between them
            for i, rung in enumerate(RUNGS):
                child = Child(rung, work / f"{rung}.log")
                await child.start(__file__, "--consume", rung, "--url", cluster[servers[i % 2]].client_url,
                                  "--db", str(work / f"{rung}.db"))
                children.append(child)
            for child in children:  # each says so once subscribed
                await child.event("ready", timeout=60)
            await asyncio.sleep(1)
            key = nacl.signing.SigningKey.generate()
            js = nc.jetstream(timeout=10)
            n = max(20, round(rate * seconds))
            meter = CpuMeter({c.name: c.pid for c in children})
            say(f"floor: {n} records of {size} B, one at a time at {rate:g}/s, to {len(RUNGS)} consumers")
            loop = asyncio.get_running_loop()
            meter.start()
            t0 = loop.time()
            for i in range(n):
                if (due := t0 + i / rate) > loop.time():
                    await asyncio.sleep(due - loop.time())
                signed = b"hitode/v1\x00" + os.urandom(max(0, size - 140))
                raw = msgspec.msgpack.encode(Envelope(signed, key.sign(signed).signature, bytes(key.verify_key)))
                await js.publish(SUBJECT, raw, headers={"Nats-Msg-Id": f"floor-{i}"})
            await asyncio.sleep(1.0)  # the last ones taken and acked
            meter.stop()
            await nc.close()
            print(f"\nCPU ms per record at {rate:g} records/s, one record at a time ({n} records):")
            below = 0.0
            for rung in RUNGS:
                ms = 1000 * meter.used[rung] / n
                print(f"  {rung:<7} {ms:5.2f} ms   ({ms - below:+5.2f} against the rung above it)")
                below = ms
            print(f"  other processes on the machine took {meter.others():.1f} CPU s meanwhile")
    finally:
        await asyncio.gather(*(c.stop() for c in children), return_exceptions=True)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--size", type=int, default=576, help="envelope bytes (the node's, about 576)")
    p.add_argument("--consume", choices=RUNGS, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.consume:
        asyncio.run(consume(args.url, args.consume, args.db))
        return 0
    asyncio.run(bench(args.rate, args.seconds, args.size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
