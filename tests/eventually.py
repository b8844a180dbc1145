"""Bounded polling for tests: wait for a condition instead of sleeping (STYLE 10)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast, overload

__all__ = ["eventually"]

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[[], Awaitable[T]], timeout: float = 15, interval: float = 0.05
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T], timeout: float = 15, interval: float = 0.05
) -> T: ...


async def eventually(
    check: Callable[[], Awaitable[T] | T], timeout: float = 15, interval: float = 0.05
) -> T:
    """Call ``check`` until it returns something truthy without raising, and return that.

    On timeout, raise AssertionError carrying the last exception or value, so a failing
    test says what it was still seeing rather than just "timed out".
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = "check never ran"
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return cast(T, result)
            last = result
        except Exception as e:  # the condition may raise until it holds
            last = e
        if loop.time() >= deadline:
            if isinstance(last, BaseException):
                raise AssertionError(f"not true after {timeout}s; last error: {last!r}") from last
            raise AssertionError(f"not true after {timeout}s; last value: {last!r}")
        await asyncio.sleep(interval)
