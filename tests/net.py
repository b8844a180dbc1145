"""Loopback ports for tests that must name one before a server takes it."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager

# Below Linux's ephemeral range (32768-60999): a port named now and bound a moment later
# must not be taken meanwhile by some outgoing connection's local port.
_LOW, _HIGH = 20000, 32000


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_run(n: int) -> int:
    """The first of n consecutive free loopback ports (e.g. the demo's 8701-8703)."""
    for _ in range(1000):
        base = random.randrange(_LOW, _HIGH - n)
        if all(_free(base + i) for i in range(n)):
            return base
    raise RuntimeError(f"no {n} consecutive free ports between {_LOW} and {_HIGH}")


def free_port() -> int:
    return free_run(1)


@contextmanager
def taken_port() -> Iterator[int]:
    """A loopback port that something else is listening on, for the duration."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])
