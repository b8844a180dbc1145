"""The federation's ledger of redemptions: claiming a ticket on stream TICKETS and reading
back who holds it (DESIGN §5). The only module of the feature that speaks NATS.

A claim publishes the attempt's signed redemption to the ticket's subject with
`Nats-Msg-Id` = the attempt's id (a retry is the same message, not a second one) and
`Nats-Expected-Last-Subject-Sequence: 0` (only while the subject is empty). The server's
answer is told apart by `err_code`, never by exception class (DESIGN §9): an ack means
this attempt is the redemption; "wrong last sequence" (10071) or "maximum messages per
subject" (10077, which arrives as a 503) mean someone was first, and the subject is read
back by direct get to learn who, and the winner may be this very attempt (a retry of one
whose ack was lost); anything else (a timeout, no responders, no JetStream leader) means
the cluster did not decide in time: pending, to be settled by reading back later.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, Literal

import msgspec
import nats.errors
import nats.js.errors
from nats.js.api import Header

from node.bus.connection import Bus
from node.errors import HitodeError
from node.federation.identity import open_call
from node.tickets.stream import STREAM, subject
from schemas.ticket import REDEMPTION_TAG, Redemption

__all__ = ["Ledger", "Claim", "Winner", "Unreachable", "is_taken"]

log = logging.getLogger(__name__)

WRONG_LAST_SEQUENCE: Final = frozenset({10071, 10164})  # with and without the sequence in the text
STORE_FAILED: Final = 10077  # the stream's limits refused the message (its text says which)
# What a server says when the cluster cannot answer: a timeout, no responders, or an API
# error from a server without a JetStream leader for the stream.
_UNREACHABLE: Final = (TimeoutError, nats.errors.Error, nats.js.errors.Error, OSError, HitodeError)


class Unreachable(Exception):
    """The cluster did not answer a read-back."""


def is_taken(e: nats.js.errors.APIError) -> bool:
    """The server refused the message because the ticket's subject already holds one."""
    if e.err_code in WRONG_LAST_SEQUENCE:
        return True
    return e.err_code == STORE_FAILED and "maximum messages per subject" in (e.description or "")


class Winner(msgspec.Struct, frozen=True, kw_only=True):
    """The redemption stored on a ticket's subject, as read back, with the key that signed it."""

    redemption: Redemption | None  # None: the stored message is not a readable signed redemption
    key: bytes
    seq: int


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Literal["redeemed", "taken", "pending"]
    winner: Winner | None = None
    why: str = ""  # for pending: what the bus said


class Ledger:
    """Claims and read-backs on stream TICKETS through the node's bus."""

    def __init__(self, bus: Bus, *, timeout: float = 3.0, tries: int = 2) -> None:
        self._bus = bus
        self.timeout = timeout
        self._tries = tries

    async def claim(self, ticket_id: str, attempt: str, record: bytes) -> Claim:
        """Publish the attempt (again, if it was sent before: same msg-id) and say what came of it."""
        why = ""
        for _ in range(self._tries):
            headers = {Header.MSG_ID.value: attempt, Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value: "0"}
            try:
                await self._bus.js.publish(subject(ticket_id), record, timeout=self.timeout, headers=headers)
            except nats.js.errors.APIError as e:
                if is_taken(e):
                    return await self._taken(ticket_id, attempt)
                why = f"JetStream refused ({e.err_code}: {e.description})"
            except _UNREACHABLE as e:
                why = f"{type(e).__name__}: {e}".rstrip(": ")
            else:
                # an ack, first time or as a duplicate of this attempt's earlier send
                return Claim(outcome="redeemed")
        log.info("tickets: ticket %s attempt %s pending: %s", ticket_id, attempt, why)
        return Claim(outcome="pending", why=why)

    async def _taken(self, ticket_id: str, attempt: str) -> Claim:
        try:
            winner = await self.read_back(ticket_id, expect=True)
        except Unreachable as e:
            return Claim(outcome="pending", why=f"refused, and the read-back failed: {e}")
        if winner is None:
            return Claim(outcome="pending", why="refused, but the read-back found nothing yet")
        mine = winner.redemption is not None and winner.redemption.attempt == attempt
        return Claim(outcome="redeemed" if mine else "taken", winner=winner)

    async def read_back(self, ticket_id: str, *, expect: bool = False) -> Winner | None:
        """The redemption stored for the ticket, or None. Direct get may be answered by a
        replica a little behind the leader: when a message is known to be there (`expect`),
        an empty answer is asked again a few times before it is believed."""
        for i in range(5 if expect else 1):
            try:
                msg = await self._bus.jsm.get_msg(STREAM, subject=subject(ticket_id), direct=True)
            except nats.js.errors.NotFoundError:
                if i < 4 and expect:
                    await asyncio.sleep(0.2 * (i + 1))
                continue
            except _UNREACHABLE as e:
                raise Unreachable(f"{type(e).__name__}: {e}") from None
            data = bytes(msg.data or b"")
            try:
                redemption, key = open_call(data, REDEMPTION_TAG, Redemption)
            except HitodeError:
                return Winner(redemption=None, key=b"", seq=int(msg.seq or 0))
            return Winner(redemption=redemption, key=key, seq=int(msg.seq or 0))
        return None

    async def held(self, ticket_id: str) -> bool:
        """Whether the ticket's subject holds a message, as the stream's leader says (stream
        info is answered by the leader alone, so a replica cut off cannot say "free")."""
        try:
            info = await self._bus.jsm.stream_info(STREAM, subjects_filter=subject(ticket_id))
        except _UNREACHABLE as e:
            raise Unreachable(f"{type(e).__name__}: {e}") from None
        return bool((info.state.subjects or {}).get(subject(ticket_id)))
