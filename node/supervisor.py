"""Keeping a node's long-running loops alive: restart on an unexpected error, say so.

A loop that dies silently is the worst failure a node can have (the relay stops, the
health check still says "connected"), so every loop runs under `forever`, which logs the
error and starts the loop again with backoff. Cancellation still stops it at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

__all__ = ["forever", "woken"]

log = logging.getLogger(__name__)


async def forever(name: str, body: Callable[[], Awaitable[None]], *, max_delay: float = 30.0) -> None:
    """Run `body` until it returns; restart it after any exception but cancellation."""
    delay = 0.5
    while True:
        started = time.monotonic()
        try:
            await body()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            if time.monotonic() - started > max_delay:
                delay = 0.5  # it ran well for a while: this is a new spell of trouble
            log.exception("%s failed; starting it again in %.1fs", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)


async def woken(event: asyncio.Event, timeout: float) -> bool:
    """A loop's wait: until `event` is set or `timeout` seconds pass; True if it was set.

    A loop must stop when its task is cancelled, but on Python 3.11 `asyncio.wait_for` drops
    a cancellation that arrives just as what it waits for completes, and libraries use it
    (nats-py's request does): a settler that missed its stop that way kept a node from
    exiting after a failed start. So this wait uses `asyncio.timeout`, which passes every
    cancellation on, and first honours a cancellation requested of this task and lost
    deeper down (`Task.cancelling()`), so the loop stops at its next wait at the latest.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
