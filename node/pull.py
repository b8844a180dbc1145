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
        self._inbox = ""
        self._sub: Subscription | None = None
        self._got: list[Msg] = []
        self._arrived = asyncio.Event()
        # Open requests, oldest first: reply token -> (messages still due, when it lapses).
        self._open: dict[str, tuple[int, float]] = {}
        self._n = 0
        self._heard = 0.0
        self._ended = ""
        self._on_idle = on_idle

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
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            # A message keeps its stream subject, so it does not say which request it
            # answers; the server serves waiting requests in order: the oldest one.
            self._got.append(msg)
            for token, (due, lapses) in self._open.items():
                if due <= 1:
                    del self._open[token]
                else:
                    self._open[token] = (due - 1, lapses)
                break
            self._arrived.set()
            return
        token = msg.subject.rpartition(".")[2]  # status messages come on the reply subject
        if status == "100":
            # Idle heartbeat: alive, and the consumer has nothing more for us.
            if self._on_idle is not None and not self._got:
                self._on_idle()
            return
        elif status in ("404", "408"):
            self._open.pop(token, None)  # the request expired or found nothing
        else:
            why = str((msg.headers or {}).get(Header.DESCRIPTION, ""))
            self._open.pop(token, None)
            if status != "409" or "Deleted" in why or "Leadership" in why:
                self._ended = f"{status} {why}".strip()
        self._arrived.set()

    async def _top_up(self) -> None:
        now = time.monotonic()
        for token, (_, lapses) in list(self._open.items()):
            if lapses < now:  # its 408 never came
                del self._open[token]
        while len(self._open) < self._requests:
            self._n += 1
            token = str(self._n)
            self._open[token] = (self._batch, now + self._expires + 2 * self._heartbeat)
            request = {
                "batch": self._batch,
                "expires": int(self._expires * 1e9),
                "idle_heartbeat": int(self._heartbeat * 1e9),
            }
            await self._nc.publish(self._next, json.dumps(request).encode(), reply=f"{self._inbox}.{token}")
            self._heard = max(self._heard, now)  # a new request gets its own grace

    async def take(self, n: int) -> list[Msg]:
        """At most n messages, in stream order; waits for the first one.

        Raises PullEnded when the consumer is gone or the server fell silent.
        """
        while True:
            if self._ended:
                raise PullEnded(f"{self._consumer}: {self._ended}")
            await self._top_up()
            if self._got:
                out = self._got[:n]
                del self._got[:n]
                return out
            self._arrived.clear()
            silence = self.SILENCE * self._heartbeat
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=silence)
            except TimeoutError:
                if time.monotonic() - self._heard >= silence:
                    raise PullEnded(f"{self._consumer}: no heartbeat for {silence:.0f}s") from None
