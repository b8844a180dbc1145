"""Reading one durable pull consumer: a few pull requests kept open, messages gathered as they come.

nats-py's `PullSubscription.fetch` waits for every message with two fresh tasks, a timer
and a uuid; at a few thousand records a second that was a fifth of a receiver's CPU and
most of what it spent on its own records coming back. Here one core subscription's
callback gathers what the open pull requests (`<api>.CONSUMER.MSG.NEXT.<stream>.<name>`,
each with its own reply subject) deliver, the way nats.go's `Consume` does, and the
applier takes whatever has arrived. Acks, metadata and redelivery stay nats-py's `Msg`.

The server answers a request with up to `batch` messages, with idle heartbeats (status
100) while it has none, and ends it with 404/408 (expired) or 409 (e.g. the consumer was
deleted). Silence for three heartbeats means the server lost the requests (a restart, a
lost connection): the caller re-binds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import Header

__all__ = ["Pull", "PullEnded"]


class PullEnded(Exception):
    """The consumer is gone or the server stopped answering: bind again."""


class Pull:
    """`async with Pull(...) as pull`: `await pull.take(n)` gives the next messages."""

    SILENCE: Final = 3  # heartbeats

    def __init__(
        self,
        nc: NatsClient,
        api_prefix: str,
        stream: str,
        consumer: str,
        *,
        batch: int,
        requests: int = 2,
        expires: float = 10.0,
        heartbeat: float = 1.0,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self._nc = nc
        self._next = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._consumer = consumer
        self._batch = batch
        self._requests = requests
        self._expires = expires
        self._heartbeat = heartbeat
        self._on_idle = on_idle
        self._inbox = ""
        self._sub: Subscription | None = None
        self._got: list[Msg] = []
        # The taker waits on a bare future that the subscription's callback resolves: an
        # Event under wait_for costs a task, a timer and three loop turns per lone record.
        self._waiter: asyncio.Future[None] | None = None
        # Messages asked for and not yet come or given up. The server hands a partly
        # served request to the back of its queue, so messages do not say which request
        # they answer: count them all together, as nats.go does, and let each request's
        # end (408 with Nats-Pending-Messages) give back what it will not deliver.
        self._due = 0
        self._asked: dict[str, int] = {}  # open requests: reply token -> batch asked
        self._n = 0
        self._heard = 0.0
        self._ended = ""
        self.delivered = 0

    async def __aenter__(self) -> Pull:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_msg)
        self._heard = time.monotonic()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error, OSError):
                await self._sub.unsubscribe()
            self._sub = None

    @property
    def buffered(self) -> int:
        return len(self._got)

    async def _on_msg(self, msg: Msg) -> None:
        self._heard = time.monotonic()
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            self._got.append(msg)
            self.delivered += 1
            self._due = max(0, self._due - 1)
            self._wake()
            return
        if status == "100":
            # Idle heartbeat: alive, and the consumer has nothing for us now.
            if self._on_idle is not None and not self._got:
                self._on_idle()
            return
        # The end of one request; status messages come on its reply subject.
        asked = self._asked.pop(msg.subject.rpartition(".")[2], 0)
        left = headers.get("Nats-Pending-Messages")
        self._due = max(0, self._due - (int(left) if left and left.isdigit() else asked))
        why = str(headers.get(Header.DESCRIPTION, ""))
        if status == "409" and (cap := _MAX_BATCH.search(why)):
            self._batch = max(1, int(cap.group(1)))  # the server's limit: ask for less
        elif status not in ("404", "408"):
            # The consumer was deleted or moved, or refuses our requests: bind again.
            self._ended = f"{status} {why}".strip()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _top_up(self) -> None:
        """Keep `requests` batches asked for; a request is sent once a batch's worth is due."""
        while self._due + self._batch <= self._requests * self._batch:
            self._n += 1
            token = str(self._n)
            self._asked[token] = self._batch
            self._due += self._batch
            request = {
                "batch": self._batch,
                "expires": int(self._expires * 1e9),
                "idle_heartbeat": int(self._heartbeat * 1e9),
            }
            await self._nc.publish(self._next, json.dumps(request).encode(), reply=f"{self._inbox}.{token}")
            self._heard = max(self._heard, time.monotonic())  # a new request gets its own grace

    async def take(self, n: int, within: float | None = None) -> list[Msg]:
        """At most n messages, in stream order; waits for the first one, or `within`
        seconds if given (then it may give none: the caller has something to do meanwhile).

        Messages already here are given out first; then PullEnded is raised when the
        consumer is gone or refuses us, or the server fell silent.
        """
        loop = asyncio.get_running_loop()
        until = None if within is None else loop.time() + within
        while True:
            if not self._ended:
                await self._top_up()
            if self._got:
                out = self._got[:n]
                del self._got[:n]
                return out
            if self._ended:
                raise PullEnded(f"{self._consumer}: {self._ended}")
            silence = self.SILENCE * self._heartbeat
            if until is not None and loop.time() >= until:
                return []
            self._waiter = waiter = loop.create_future()
            wait = silence if until is None else min(silence, max(0.0, until - loop.time()))
            timer = loop.call_later(wait, self._wake)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
            if not self._got and not self._ended and time.monotonic() - self._heard >= silence:
                raise PullEnded(f"{self._consumer}: no heartbeat for {silence:.0f}s")


_MAX_BATCH: Final = re.compile(r"MaxRequestBatch of (\d+)")
