"""Idle cost: a federation with nothing to say sends no per-peer requests on a timer.

Ten spaces on one nats-server, all seeing each other, nothing written: the only traffic
should be presence. A node that asks every peer for something on a timer (a sweep) costs
the federation the square of its size while idle, and at start-up is refused by peers that
have not pinned it yet. Gaps show from the stream and from heads a peer already announces;
a node asks only when one is visible.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import nats
from nats.aio.msg import Msg

from node.bus.embedded import EmbeddedNats
from node.federation.sync import Syncer
from tests.eventually import eventually
from tests.spaces import Space, converged, spaces_for

NAMES = ["kobe", "sapporo", "hakodate", "osaka", "kyoto", "nara", "sendai", "fukuoka", "naha", "kanazawa"]
# Longer than any timer a node has (it looks at its own chains every IDLE_LOOK s, locally).
QUIET = Syncer.IDLE_LOOK + 5.0
LOUD = ("WARNING", "ERROR", "CRITICAL")


def _loud_lines(space: Space) -> list[str]:
    """Log lines at WARNING or above (format: `HH:MM:SS LEVEL name: message`)."""
    text = (space.dir / "node.log").read_text(errors="replace")
    return [ln for ln in text.splitlines() if len(p := ln.split(maxsplit=2)) > 1 and p[1] in LOUD]


async def test_an_idle_federation_of_ten_sends_no_per_peer_requests_on_a_timer(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """Ten idle spaces that all see each other: over a window longer than any sweep period, nobody asks anybody for sync, and no node logs a warning."""
    seen: Counter[str] = Counter()
    counting = {"on": False}
    idle: Counter[str] = Counter()

    async def on_sync(msg: Msg) -> None:
        # hitode.rpc.<to>.sync
        to = msg.subject.split(".")[2]
        seen[to] += 1
        if counting["on"]:
            idle[to] += 1

    watcher = await nats.connect(nats_server.client_url)
    try:
        await watcher.subscribe("hitode.rpc.*.sync", cb=on_sync)
        await watcher.flush()
        started = time.monotonic()
        async with spaces_for(tmp_path, NAMES, lambda _: nats_server.client_url) as spaces:

            async def all_see_all() -> bool:
                for s in spaces:
                    listed = (await s.get("/api/spaces", auth=False))["spaces"]
                    if sorted(p["id"] for p in listed) != sorted(NAMES):
                        return False
                    if not all(p["online"] for p in listed):
                        return False
                return True

            await eventually(all_see_all, timeout=40, interval=0.5)
            await converged(spaces)
            ready = time.monotonic() - started

            counting["on"] = True
            await asyncio.sleep(QUIET)
            counting["on"] = False

            # Still the same idle federation at the end: nobody fell offline, nothing written.
            await eventually(all_see_all, timeout=10, interval=0.5)
            loud = {s.id: lines for s in spaces if (lines := _loud_lines(s))}

        total = sum(idle.values())
        problems: list[str] = []
        if total:
            problems.append(
                f"an idle federation of {len(NAMES)} sent {total} sync requests in {QUIET:.0f} s "
                f"(by recipient: {dict(idle)}); {sum(seen.values())} since start-up, "
                f"all {len(NAMES)} online after {ready:.1f} s"
            )
        if loud:
            problems.append("node logs at WARNING or above:\n" + "\n".join(
                f"{sid}: {ln}" for sid, lines in loud.items() for ln in lines[:5]
            ))
        assert not problems, "\n".join(problems)
    finally:
        await watcher.close()
