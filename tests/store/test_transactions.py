"""A write is one unit: a cancellation never splits it, and the store stays usable after one.

The review found the old `async with store.write()` poisoned: cancelled while its BEGIN
waited in the database thread, it skipped the rollback and the BEGIN ran anyway, so every
later write failed with "cannot start a transaction within a transaction" (the relay logged
exactly that when the demo was stopped with Ctrl-C). These scenarios cancel writers at each
point a unit can be in: queued behind another, and running.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from node.store import Store, Tx
from tests.eventually import eventually


def _alert(tx: Tx, message: str) -> None:
    tx.execute("INSERT INTO alerts (at, kind, space, message) VALUES (0, 'test', 'kobe', ?)", (message,))


async def _messages(store: Store) -> list[str]:
    return [r[0] for r in await store.all("SELECT message FROM alerts ORDER BY id")]


async def test_a_writer_cancelled_while_queued_never_runs_and_the_next_write_works(tmp_path: Path) -> None:
    """A unit cancelled before its turn is dropped whole; the writer connection is not left in a transaction."""
    async with Store(tmp_path / "kobe.db") as store:
        gate = threading.Event()

        def blocker(tx: Tx) -> None:
            _alert(tx, "first")
            gate.wait(10)

        first = asyncio.create_task(store.transact(blocker))
        queued = asyncio.create_task(store.transact(lambda tx: _alert(tx, "cancelled")))
        await asyncio.sleep(0.05)  # both submitted; the writer is busy with the first
        queued.cancel()
        gate.set()
        await first
        try:
            await queued
        except asyncio.CancelledError:
            pass
        await store.transact(lambda tx: _alert(tx, "after"))
        assert await _messages(store) == ["first", "after"]


async def test_a_writer_cancelled_mid_unit_waits_for_its_end_and_the_write_stands(tmp_path: Path) -> None:
    """Cancelled while its unit runs, the caller sees the cancellation only once the unit has committed whole."""
    async with Store(tmp_path / "kobe.db") as store:
        started, gate = threading.Event(), threading.Event()
        woken: list[str] = []
        store.on_commit("test", lambda: woken.append("committed"))

        def slow(tx: Tx) -> None:
            _alert(tx, "one")
            started.set()
            gate.wait(10)
            _alert(tx, "two")
            tx.notify("test")

        task = asyncio.create_task(store.transact(slow))
        await eventually(started.is_set)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done(), "the caller must wait for the unit it started"
        gate.set()
        try:
            await task
        except asyncio.CancelledError:
            pass
        assert await _messages(store) == ["one", "two"]  # all of it, never half
        assert woken == ["committed"]  # the commit still wakes its listeners
        await store.transact(lambda tx: _alert(tx, "three"))
        assert await _messages(store) == ["one", "two", "three"]


async def test_a_unit_that_fails_rolls_back_whole_and_listeners_are_not_woken(tmp_path: Path) -> None:
    """An exception inside a unit undoes every statement of it; nothing is notified."""
    async with Store(tmp_path / "kobe.db") as store:
        woken: list[str] = []
        store.on_commit("test", lambda: woken.append("x"))

        def failing(tx: Tx) -> None:
            _alert(tx, "half")
            tx.notify("test")
            raise ValueError("refused")

        try:
            await store.transact(failing)
        except ValueError:
            pass
        await store.transact(lambda tx: _alert(tx, "whole"))
        assert await _messages(store) == ["whole"] and woken == []


async def test_closing_the_store_lets_a_running_unit_finish(tmp_path: Path) -> None:
    """Shutdown does not cut a write in two: a unit that has begun commits before the store closes."""
    path = tmp_path / "kobe.db"
    store = Store(path)
    await store.open()
    started, gate = threading.Event(), threading.Event()

    def slow(tx: Tx) -> None:
        _alert(tx, "before close")
        started.set()
        gate.wait(10)

    task = asyncio.create_task(store.transact(slow))
    await eventually(started.is_set)
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0.05)
    gate.set()
    await task
    await closing
    async with Store(path) as again:
        assert await _messages(again) == ["before close"]


async def test_a_unit_that_sends_a_record_commits_durably_even_when_asked_not_to(tmp_path: Path) -> None:
    """A non-durable unit that turns out to hold something to send is run again, durably, whole."""
    async with Store(tmp_path / "kobe.db") as store:
        runs: list[bool] = []

        def reacting(tx: Tx) -> str:
            runs.append(tx.durable)
            _alert(tx, f"run {len(runs)}")
            tx.require_durable()
            return "sent"

        assert await store.transact(reacting, durable=False) == "sent"
        assert runs == [False, True]
        assert await _messages(store) == ["run 2"]  # the first run left nothing behind
        assert await store.transact(lambda tx: tx.scalar("PRAGMA synchronous")) == 2  # FULL again


async def test_a_small_applied_batch_runs_on_the_loop_when_the_writer_is_idle_and_is_still_one_unit(
    tmp_path: Path,
) -> None:
    """An inline unit commits whole on the loop's thread and wakes its listeners; a failing one leaves nothing."""
    async with Store(tmp_path / "kobe.db") as store:
        woken: list[str] = []
        store.on_commit("applied", lambda: woken.append("x"))
        threads: list[str] = []

        def applied(tx: Tx) -> str:
            threads.append(threading.current_thread().name)
            _alert(tx, "inline")
            tx.notify("applied")
            return "done"

        def failing(tx: Tx) -> None:
            _alert(tx, "half")
            tx.notify("applied")
            raise ValueError("refused")

        assert await store.transact(applied, durable=False, inline=True) == "done"
        try:
            await store.transact(failing, durable=False, inline=True)
        except ValueError:
            pass
        assert threads == [threading.current_thread().name] and woken == ["x"]
        assert await _messages(store) == ["inline"]
        # the commit mode stays NORMAL between applied batches; a durable unit sets FULL first
        assert await store.transact(lambda tx: tx.scalar("PRAGMA synchronous"), durable=False, inline=True) == 1
        assert await store.transact(lambda tx: tx.scalar("PRAGMA synchronous")) == 2


async def test_an_inline_unit_waits_its_turn_behind_units_queued_before_it(tmp_path: Path) -> None:
    """While the writer thread is busy or has work queued, an inline unit is queued after it, in order."""
    async with Store(tmp_path / "kobe.db") as store:
        gate = threading.Event()
        threads: list[str] = []

        def blocker(tx: Tx) -> None:
            _alert(tx, "first")
            gate.wait(10)

        def second(tx: Tx) -> None:
            threads.append(threading.current_thread().name)
            _alert(tx, "second")

        first = asyncio.create_task(store.transact(blocker))
        await asyncio.sleep(0.05)
        then = asyncio.create_task(store.transact(second, durable=False, inline=True))
        await asyncio.sleep(0.05)
        assert not then.done()  # not run beside the busy writer
        gate.set()
        await first
        await then
        assert await _messages(store) == ["first", "second"]
        assert threads and threads[0] != threading.current_thread().name


async def test_an_inline_unit_that_sends_a_record_commits_durably_in_the_writer_thread(tmp_path: Path) -> None:
    """Asked inline and not durable, a unit that must be durable runs again, durably, off the loop."""
    async with Store(tmp_path / "kobe.db") as store:
        runs: list[tuple[bool, str]] = []

        def reacting(tx: Tx) -> None:
            runs.append((tx.durable, threading.current_thread().name))
            _alert(tx, f"run {len(runs)}")
            tx.require_durable()

        await store.transact(reacting, durable=False, inline=True)
        here = threading.current_thread().name
        assert [d for d, _ in runs] == [False, True] and runs[0][1] == here and runs[1][1] != here
        assert await _messages(store) == ["run 2"]


async def test_an_inline_unit_meeting_another_process_s_write_lock_waits_in_the_writer_thread_not_on_the_loop(
    tmp_path: Path,
) -> None:
    """An operator's sqlite3 shell holds the write lock while a lone record is applied: the
    event loop goes on serving meanwhile, and the record commits once the lock is let go."""
    import sqlite3

    async with Store(tmp_path / "kobe.db") as store:
        shell = sqlite3.connect(tmp_path / "kobe.db", isolation_level=None)
        try:
            shell.execute("BEGIN IMMEDIATE")
            threads: list[str] = []

            def applied(tx: Tx) -> str:
                threads.append(threading.current_thread().name)
                _alert(tx, "applied while the shell held the lock")
                return "done"

            write = asyncio.create_task(store.transact(applied, durable=False, inline=True))
            served = asyncio.Event()

            async def meanwhile() -> None:
                served.set()

            asyncio.get_running_loop().call_soon(asyncio.ensure_future, meanwhile())
            await served.wait()  # the loop was not held by the write waiting for the lock
            assert not write.done()
            shell.execute("ROLLBACK")
            assert await write == "done"
        finally:
            shell.close()
        assert threads and threads[0] != threading.current_thread().name
        assert await _messages(store) == ["applied while the shell held the lock"]
