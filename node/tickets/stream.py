"""Stream TICKETS: the one place in hitode where spaces must agree (DESIGN §5).

Each common ticket has its own subject, `hitode.ticket.<ticket id>`, and the stream keeps
at most one message on it, refusing (never replacing) a second: `max_msgs_per_subject: 1`
with `discard: new` *and* `discard_new_per_subject` (without the latter, discard new only
acts on the stream's overall limits, and a second message would push the first out).
Nobody may delete, purge or roll up a message, and nothing ages out, so a redemption once
stored stands for good; replicas as HITODE's (3 where there are three servers or more),
so a majority of the cluster decides and a space cut off from it cannot.
"""

from __future__ import annotations

import re
from typing import Final

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

__all__ = ["STREAM", "SUBJECTS", "stream_config", "subject", "problems"]

STREAM: Final = "TICKETS"
SUBJECTS: Final = "hitode.ticket.*"
_TOKEN: Final = re.compile(r"^[0-9a-f-]{36}$")  # a ticket id is a UUID: one subject token


def stream_config(replicas: int) -> StreamConfig:
    return StreamConfig(
        name=STREAM,
        description="hitode common tickets: one redemption per ticket, kept for good",
        subjects=[SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        num_replicas=replicas,
        max_msgs_per_subject=1,
        discard=DiscardPolicy.NEW,
        discard_new_per_subject=True,
        deny_delete=True,
        deny_purge=True,
        allow_rollup_hdrs=False,
        max_age=0,  # never: a ticket redeemed years ago is still redeemed
        max_msg_size=4096,
        duplicate_window=20 * 60,  # a retried attempt (same msg-id) is seen as itself
        allow_direct=True,
    )


def subject(ticket_id: str) -> str:
    if not _TOKEN.match(ticket_id):
        raise ValueError(f"not a ticket id: {ticket_id!r}")
    return f"hitode.ticket.{ticket_id}"


def problems(have: StreamConfig, replicas: int = 1) -> list[str]:
    """What an existing stream TICKETS lacks of what single use relies on (an operator, or
    an older version, may have made it otherwise): each is a reason to refuse redemptions.
    `replicas` is what this node is set up for (3 or more where the cluster has three
    servers or more): fewer on the stream would let a minority of the cluster decide."""
    want = stream_config(1)
    out = []
    if (have.num_replicas or 1) < replicas:
        out.append(f"num_replicas is {have.num_replicas or 1}, not {replicas}: a minority of the cluster could decide")
    for name in ("max_msgs_per_subject", "discard", "discard_new_per_subject", "deny_delete", "deny_purge",
                 "allow_direct"):
        if getattr(have, name) != getattr(want, name):
            out.append(f"{name} is {getattr(have, name)!r}, not {getattr(want, name)!r}")
    if have.allow_rollup_hdrs:
        out.append("rollups are allowed")
    if have.max_age:
        out.append(f"messages age out after {have.max_age} s")
    return out
