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

__all__ = ["forever"]

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
