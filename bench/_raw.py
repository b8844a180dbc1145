"""The raw stack, with no hitode code: what propagation could reach on this machine.

`run_raw` (called by propagation.py) creates stream RAWBENCH with the same settings as
HITODE, starts two consumer processes and one publisher process (this file run as a
script, one role each), times N records from the first one on the bus to both consumers
holding all N, then deletes the stream:

  pub      pre-signs N Ed25519 envelopes of the given size (as the node's outbox holds
           them signed), then keeps 500 `js.publish` in flight, msg-id set, retrying any
           that fail, like the node's relay.
  consume  a durable pull consumer (R1, explicit ack, like the node's): `fetch(500)`,
           verify each signature (pynacl), decode the header (msgspec), insert the batch
           and the consumer's progress in ONE aiosqlite transaction (WAL,
           synchronous=FULL), then ack each message.

With --lean (the second raw run) the same work goes through the stack's lowest level:
`publish_async` (500 pending) for the publisher, and bare `$JS.API.CONSUMER.MSG.NEXT`
no_wait requests gathered by one subscription callback for the consumers, as node.pull
does, instead of nats-py's `fetch`, which waits for each message with its own tasks.

With --rate R (raw-paced) the publisher sends one record at a time on a fixed schedule,
awaiting each ack, and the consumers (nats-py `fetch`) take them as they come, one per
transaction: what a record that arrives alone costs the stack, in CPU per record.

Both stay alive after their work until SIGTERM, so the bench can read their CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from _harness import Child, CpuMeter, Reader, first_message, say, wait_all

STREAM, SUBJECT = "RAWBENCH", "rawbench.pub.kobe"
IN_FLIGHT, BATCH = 500, 500
_TAG = b"hitode/v1\x00"


class RawHeader(msgspec.Struct, array_like=True):
    id: str
    seq: int
    created_at: float
    pad: bytes


class RawEnvelope(msgspec.Struct):
    signed: bytes
    sig: bytes
    key: bytes


@dataclasses.dataclass
class RawResult:
    rate: float
    wall: float
    others: float  # CPU seconds other processes of the machine took meanwhile
    cpu_ms: dict[str, float] = dataclasses.field(default_factory=dict)  # per record, by consumer


async def publisher(url: str, n: int, size: int, lean: bool, rate: float | None) -> None:
    import nacl.signing

    key = nacl.signing.SigningKey.generate()
    enc = msgspec.msgpack.Encoder()
    pad, msgs = b"", []
    for seq in range(1, n + 1):
        mid = f"raw-{os.getpid()}-{seq}"
        while True:  # the first envelope sets the padding that makes it `size` bytes
            signed = _TAG + enc.encode(RawHeader(mid, seq, time.time(), pad))
            raw = enc.encode(RawEnvelope(signed, key.sign(signed).signature, bytes(key.verify_key)))
            if len(raw) >= size or seq > 1:
                break
            pad += b"x" * (size - len(raw))
        msgs.append((mid, raw))
    nc = await nats.connect(url, max_reconnect_attempts=-1)
    js = nc.jetstream(timeout=5, publish_async_max_pending=IN_FLIGHT)
    print(json.dumps({"ready": True, "size": len(msgs[0][1])}), flush=True)
    sem = asyncio.Semaphore(IN_FLIGHT)
    retry: list[tuple[str, bytes]] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(mid: str, raw: bytes) -> None:
        try:
            await js.publish(SUBJECT, raw, timeout=5, headers={"Nats-Msg-Id": mid})
        except (nats.errors.Error, TimeoutError):
            retry.append((mid, raw))

    def done(t: asyncio.Task[None]) -> None:
        tasks.discard(t)
        sem.release()

    async def lean_round(queue: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        """publish_async, 500 in flight (its own bound), every future awaited at the end."""
        sent = []
        for mid, raw in queue:
            sent.append((await js.publish_async(SUBJECT, raw, headers={"Nats-Msg-Id": mid}), (mid, raw)))
        outcomes = await asyncio.gather(*(asyncio.wait_for(f, 10) for f, _ in sent), return_exceptions=True)
        return [m for (_, m), o in zip(sent, outcomes) if isinstance(o, BaseException)]

    queue = msgs
    if rate is not None:  # one at a time, on schedule; each awaited (retried until acked)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i, (mid, raw) in enumerate(msgs):
            if (due := t0 + i / rate) > loop.time():
                await asyncio.sleep(due - loop.time())
            while True:
                try:
                    await js.publish(SUBJECT, raw, timeout=5, headers={"Nats-Msg-Id": mid})
                    break
                except (nats.errors.Error, TimeoutError):
                    continue
        queue = []
    while queue and lean:
        queue = await lean_round(queue)
    while queue:
        for mid, raw in queue:
            await sem.acquire()
            task = asyncio.create_task(one(mid, raw))
            tasks.add(task)
            task.add_done_callback(done)
        await asyncio.gather(*tasks)
        queue, retry = retry, []
    print(json.dumps({"published": time.time()}), flush=True)
    await nc.flush()
    await asyncio.Event().wait()


async def consumer(url: str, db: str, durable: str, n: int, lean: bool) -> None:
    import aiosqlite
    import nacl.exceptions
    import nacl.signing

    env_dec, hdr_dec = msgspec.msgpack.Decoder(RawEnvelope), msgspec.msgpack.Decoder(RawHeader)
    keys: dict[bytes, nacl.signing.VerifyKey] = {}
    conn = await aiosqlite.connect(db, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=FULL")
    await conn.execute("CREATE TABLE rows (seq INTEGER PRIMARY KEY, id TEXT, raw BLOB)")
    # progress kept in the batch's transaction, as the node keeps chains and positions;
    # the bench polls it
    await conn.execute("CREATE TABLE progress (k INTEGER PRIMARY KEY, n INTEGER)")
    await conn.execute("INSERT INTO progress VALUES (0, 0)")
    nc = await nats.connect(url, max_reconnect_attempts=-1)
    js, jsm = nc.jetstream(timeout=5), nc.jsm(timeout=5)
    await jsm.add_consumer(STREAM, ConsumerConfig(
        name=durable, durable_name=durable, filter_subject="rawbench.>",
        ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_ack_pending=2 * BATCH,
        num_replicas=1, deliver_policy=DeliverPolicy.ALL))
    psub = await js.pull_subscribe_bind(durable=durable, stream=STREAM)
    got: list[Any] = []
    over = asyncio.Event()

    async def gather(m: Any) -> None:  # lean: one callback gathers a no_wait request's answer
        if m.headers and m.headers.get("Status"):
            over.set()  # 404 ends a no_wait request
        else:
            got.append(m)
            if len(got) >= BATCH:
                over.set()

    inbox = nc.new_inbox()
    await nc.subscribe(inbox, cb=gather)
    nxt = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{durable}"
    print(json.dumps({"ready": True}), flush=True)
    done = 0
    while done < n:
        if lean:
            over.clear()
            await nc.publish(nxt, json.dumps({"batch": BATCH, "no_wait": True}).encode(), reply=inbox)
            await over.wait()
            msgs, got = got, []
            if not msgs:
                await asyncio.sleep(0.001)
                continue
        else:
            try:
                # no idle heartbeat: plain fetch, as the stack's own examples use it
                msgs = await psub.fetch(BATCH, timeout=5)
            except (nats.errors.TimeoutError, TimeoutError, nats.js.errors.APIError):
                continue
        rows = []
        for m in msgs:
            env = env_dec.decode(m.data)
            vk = keys.get(env.key)
            if vk is None:
                vk = keys[env.key] = nacl.signing.VerifyKey(env.key)
            try:
                vk.verify(env.signed, env.sig)
            except nacl.exceptions.BadSignatureError:
                continue
            h = hdr_dec.decode(env.signed[len(_TAG):])
            rows.append((h.seq, h.id, m.data))
        await conn.execute("BEGIN IMMEDIATE")
        cur = await conn.executemany("INSERT OR IGNORE INTO rows VALUES (?, ?, ?)", rows)
        done += max(0, cur.rowcount)
        await conn.execute("UPDATE progress SET n = ? WHERE k = 0", (done,))
        await conn.execute("COMMIT")
        for m in msgs:
            await m.ack()
    await conn.close()
    await asyncio.Event().wait()


async def run_raw(
    servers: dict[str, Any], stream_config: Any, work: Path, n: int, size: int, *, lean: bool = False,
    rate: float | None = None,
) -> RawResult:
    """Publisher at servers["kobe"], one consumer at each other server; N records of `size`
    bytes through a stream configured like HITODE. `lean`: publish_async and bare
    MSG.NEXT requests instead of nats-py's js.publish and fetch. `rate`: one record at a
    time, `rate` a second, and the consumers' CPU per record is measured."""
    names = list(servers)
    pub_at, receivers = names[0], names[1:]
    tag = "raw-lean" if lean else "raw-paced" if rate else "raw"
    how = ("publish_async", f"MSG.NEXT no_wait batch {BATCH}") if lean else ("js.publish", f"fetch({BATCH})")
    sending = f"one js.publish at a time, {rate:g}/s" if rate else f"{IN_FLIGHT} {how[0]} in flight"
    say(f"{tag}: stream {STREAM} R3; 1 publisher ({sending}) at {pub_at}'s server,"
        f" {len(receivers)} consumers ({how[1]} + verify + 1 txn/batch + ack)")
    me = str(Path(__file__).resolve())
    nc = await nats.connect(servers[pub_at].client_url)
    try:
        jsm = nc.jsm(timeout=10)
        await jsm.add_stream(dataclasses.replace(stream_config, name=STREAM, subjects=["rawbench.>"]))
        subs = {r: Child(f"{tag}-{r}", work / f"{tag}-{r}.log") for r in receivers}
        pub = Child(f"{tag}-pub", work / f"{tag}-pub.log")
        readers: dict[str, Reader] = {}
        try:
            for r, c in subs.items():
                await c.start(me, "consume", "--url", servers[r].client_url, "--db",
                              str(work / f"{tag}-{r}.db"), "--durable", f"raw-{r}", "--records", str(n),
                              *(["--lean"] if lean else []))
            for c in subs.values():
                await c.event("ready", 30)
            readers = {r: Reader(work / f"{tag}-{r}.db") for r in receivers}
            t0_fut = await first_message(nc, SUBJECT)
            await pub.start(me, "pub", "--url", servers[pub_at].client_url, "--records", str(n),
                            "--size", str(size), *(["--lean"] if lean else []),
                            *(["--rate", str(rate)] if rate else []))
            meter = CpuMeter({"pub": pub.pid, **{r: c.pid for r, c in subs.items()},
                              **{f"nats-{s}": servers[s].pid for s in names}})
            ev = await pub.event("ready", 300)
            meter.start()
            say(f"{tag}: publishing {n} pre-signed envelopes of {ev['size']} B")
            t0 = await asyncio.wait_for(t0_fut, 60)
            t_end = await wait_all(readers, lambda r: int(r.scalar("SELECT n FROM progress") or 0),
                                   n, f"{tag} applied", timeout=max(120, n / 100))
            meter.stop()
        finally:
            for rd in readers.values():
                rd.close()
            await asyncio.gather(pub.stop(), *(c.stop() for c in subs.values()))
        await jsm.delete_stream(STREAM)
    finally:
        await nc.close()
    wall = t_end - t0
    say(f"{tag}: {n} records on every consumer in {wall:.2f}s = {n / wall:,.0f} records/s")
    say(f"{tag}: " + meter.line(wall))
    cpu_ms = {r: 1000 * meter.used[r] / n for r in receivers}
    if rate:
        say(f"{tag}: consumers' CPU per record: " + ", ".join(f"{r} {v:.2f} ms" for r, v in cpu_ms.items()))
    return RawResult(rate=n / wall, wall=wall, others=meter.others(), cpu_ms=cpu_ms)


def main() -> int:
    p = argparse.ArgumentParser(description="a role of the raw stack (run by propagation.py)")
    p.add_argument("role", choices=["pub", "consume"])
    p.add_argument("--url", required=True)
    p.add_argument("--records", type=int, required=True)
    p.add_argument("--size", type=int, default=300)
    p.add_argument("--db")
    p.add_argument("--durable")
    p.add_argument("--lean", action="store_true")
    p.add_argument("--rate", type=float, help="publish one at a time, this many a second")
    a = p.parse_args()
    try:
        if a.role == "pub":
            asyncio.run(publisher(a.url, a.records, a.size, a.lean, a.rate))
        else:
            asyncio.run(consumer(a.url, a.db, a.durable, a.records, a.lean))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
