"""The node's loops stop when they are told to, whenever the telling comes."""

from __future__ import annotations

import asyncio

import pytest

from node.supervisor import woken


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
async def test_a_stop_that_comes_as_the_loop_is_woken_still_stops_it(turns: int) -> None:
    """The event is set and the task cancelled within the same few turns of the loop: the
    cancellation must reach the task (on Python 3.11, `wait_for` could drop it, and a settler
    that missed its stop kept a node from exiting after a failed start)."""
    ev = asyncio.Event()
    task = asyncio.create_task(woken(ev, 30))
    await asyncio.sleep(0)  # the task waits
    ev.set()
    for _ in range(turns):
        await asyncio.sleep(0)
    if task.done():
        return  # it finished before the stop came: nothing to lose
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_woken_says_whether_the_event_came_or_the_time_ran_out() -> None:
    ev = asyncio.Event()
    assert await woken(ev, 0.01) is False
    ev.set()
    assert await woken(ev, 5) is True


async def test_a_stop_lost_deeper_down_is_honoured_at_the_loops_next_wait() -> None:
    """A library swallowed the cancellation (3.11's wait_for can); the loop's next wait
    raises it, so the loop ends instead of sleeping on."""
    ev = asyncio.Event()
    reached = asyncio.Event()

    async def loop() -> None:
        while True:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                pass  # what a careless library does
            reached.set()
            await woken(ev, 30)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert reached.is_set()
