"""The node's system of record: one SQLite file (WAL), written one transaction at a time.

SQLite, not the stream, is where a space's data lives (DESIGN §4). A write is a *unit*: a
plain function over a `Tx` that `transact` runs whole in the writer's own thread, BEGIN to
COMMIT, with no await inside. So a cancellation cannot split a transaction (it either
never starts or runs to its end), the writer connection never stays inside a half-done
one, and a write costs one thread hop however many statements it makes (a small unit that
need not wait for the disk, a record or two applied from the bus, runs on the loop's thread
when the writer is idle: there the hop costs more than the unit). Reads go through
aiosqlite on a second connection, which WAL lets run beside a write. Own writes commit
with ``synchronous=FULL`` so a 2xx survives SIGKILL and power loss.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

import aiosqlite

from node.errors import StoreError
from node.store.migrations import KERNEL, Migrations, migrate
from node.store.tx import NotDurable, Tx

__all__ = ["Store"]

log = logging.getLogger(__name__)
# How long a write waits for the write lock (another process may hold it), in ms.
BUSY_MS: Final = 10000
T = TypeVar("T")


class Store:
    """Owns the writer thread and the read connections; ``async with Store(path)``.

    `migrations` are the features' (owner, scripts); the kernel's run first.
    """

    def __init__(self, path: Path, migrations: Sequence[Migrations] = ()) -> None:
        self.path = path
        self._migrations: list[Migrations] = [("kernel", KERNEL), *migrations]
        self._writer: sqlite3.Connection | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoints: asyncio.Task[None] | None = None
        self._listeners: dict[str, list[Callable[[], None]]] = {}
        self._commits = 0
        self._sync_mode = "FULL"  # the writer's PRAGMA synchronous (gate held)
        # Whoever runs a unit on the writer connection holds the gate: the writer thread, or
        # the loop's thread for an inline unit, taken only while nothing is queued (so units
        # still run in the order they were asked for). `_queued` is the loop thread's own.
        self._gate = threading.Lock()
        self._queued = 0

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        try:
            await asyncio.wrap_future(self._thread.submit(self._open_writer))
            self._checkpointer = await aiosqlite.connect(self.path, isolation_level=None)
            await self._checkpointer.execute("PRAGMA busy_timeout=10000")
            self._checkpoints = asyncio.create_task(self._checkpoint_loop(), name="sqlite-checkpoint")
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            self._reader.row_factory = sqlite3.Row
            await self._reader.execute("PRAGMA busy_timeout=10000")
            await self._reader.execute("PRAGMA query_only=ON")
            await self._reader.execute("PRAGMA cache_size=-1024")
        except sqlite3.Error as e:
            await self.close()
            raise StoreError(f"cannot open the database {self.path}: {e}") from e
        except BaseException:
            await self.close()
            raise

    def _open_writer(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            # A small node on a small server: 1 MiB of page cache per connection is plenty
            # for the working set (chain heads, recent log pages) and keeps RSS low.
            conn.execute("PRAGMA cache_size=-1024")
            # Checkpoints run in the background (below), not inside a commit: a commit that
            # happens to checkpoint a large WAL would stall every writer for seconds.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute("PRAGMA journal_size_limit=67108864")
            migrate(conn, self.path, self._migrations)
            self._sync_mode = "FULL"
        except BaseException:
            conn.close()
            raise
        self._writer = conn

    async def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            await asyncio.gather(self._checkpoints, return_exceptions=True)
            self._checkpoints = None
        for conn in (self._reader, self._checkpointer):
            if conn is not None:
                await conn.close()
        self._reader = self._checkpointer = None
        if self._thread is not None:
            # Units already queued run to their end first (a write never stops half-way).
            writer, self._writer = self._writer, None
            if writer is not None:
                await asyncio.wrap_future(self._thread.submit(writer.close))
            self._thread.shutdown(wait=False)
            self._thread = None

    def on_commit(self, topic: str, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` (in the event loop) after each commit whose unit notified `topic`.

        Returns the call that stops it (a part that leaves must not be woken any more).
        """
        listeners = self._listeners.setdefault(topic, [])
        listeners.append(listener)
        return lambda: listeners.remove(listener) if listener in listeners else None

    async def transact(self, unit: Callable[[Tx], T], *, durable: bool = True, inline: bool = False) -> T:
        """Run `unit` as one transaction in the writer's thread: all of it commits or none.

        Cancelled before the unit starts, it never runs; cancelled while it runs, the
        caller waits for its end (a local write, short) and then sees the cancellation, so
        nothing is left half-done and no later write inherits an open transaction.

        `durable=False` commits without waiting for the disk (WAL, `synchronous=NORMAL`):
        the commit survives the process being killed, not a power cut. For what can be had
        again, records applied from the bus (the applier takes them again from the stream);
        never for the node's own writes, which exist nowhere else.

        `inline=True`, for a small unit that does not wait for the disk: when the writer
        has nothing queued, the unit runs right here on the loop's thread (it cannot be
        split: there is no await in it). For a record that comes alone, waking the writer
        thread and coming back cost more CPU than the unit itself (bench/README.md).
        """
        conn = self._writer
        if self._thread is None or conn is None:
            raise StoreError("the store is closed")
        if inline and not durable and not self._queued and self._gate.acquire(blocking=False):
            try:
                self._synchronous(conn, "NORMAL")
                # Never wait for the write lock on the loop's thread: another process
                # holding it (an operator's sqlite3 shell) would freeze the whole node.
                conn.execute("PRAGMA busy_timeout=0")
                try:
                    result, topics = Store._once(conn, unit, durable=False)
                finally:
                    conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
            except NotDurable:
                durable = True  # it holds something of ours to send: durably, in the writer's thread
            except sqlite3.Error as e:
                code = getattr(e, "sqlite_errorcode", None)  # the module's own errors have none
                if code is None or code & 0xFF != sqlite3.SQLITE_BUSY:  # BUSY_RECOVERY, BUSY_SNAPSHOT too
                    raise StoreError(f"database: {e}") from e
                # The lock is taken elsewhere: wait for it in the writer's thread instead.
            else:
                self._committed(topics)
                return result
            finally:
                self._gate.release()
        loop = asyncio.get_running_loop()
        # The outcome comes back to the loop by one call_soon_threadsafe that settles `fut`
        # (wrap_future + shield cost two more loop turns and three futures per write).
        fut: asyncio.Future[T] = loop.create_future()
        # The connection is taken now: a unit queued before close() runs before the
        # connection is closed (the thread takes its work in order).
        done = self._thread.submit(self._run, conn, unit, durable)
        self._queued += 1

        def back(d: concurrent.futures.Future[tuple[T, set[str]]]) -> None:  # in the writer thread
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._settle, fut, d)

        done.add_done_callback(back)
        try:
            return await fut
        except asyncio.CancelledError:
            if not done.cancel():
                while not done.done():  # already running: it ends as one unit
                    try:
                        await asyncio.shield(asyncio.wrap_future(done))
                    except asyncio.CancelledError:
                        continue
                    except BaseException:  # noqa: BLE001 - its failure is not the news here
                        break
            raise
        except sqlite3.Error as e:
            raise StoreError(f"database: {e}") from e

    def _run(self, conn: sqlite3.Connection, unit: Callable[[Tx], T], durable: bool) -> tuple[T, set[str]]:
        with self._gate:
            if not durable:
                self._synchronous(conn, "NORMAL")
                try:
                    return Store._once(conn, unit, durable=False)
                except NotDurable:
                    pass  # it holds something of ours to send: again, durably
            self._synchronous(conn, "FULL")
            return Store._once(conn, unit, durable=True)

    def _synchronous(self, conn: sqlite3.Connection, mode: str) -> None:
        """Set the writer's commit mode where it differs (gate held): a run of
        applied batches then costs no PRAGMA, and a durable unit always sets FULL first."""
        if self._sync_mode != mode:
            conn.execute(f"PRAGMA synchronous={mode}")
            self._sync_mode = mode

    @staticmethod
    def _once(conn: sqlite3.Connection, unit: Callable[[Tx], T], *, durable: bool) -> tuple[T, set[str]]:
        tx = Tx(conn, durable=durable)
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = unit(tx)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result, tx.topics

    def _settle(self, fut: asyncio.Future[T], done: concurrent.futures.Future[tuple[T, set[str]]]) -> None:
        """In the loop: tell the commit's listeners, then the caller (if it still waits)."""
        self._queued -= 1
        if done.cancelled():
            if not fut.done():
                fut.cancel()
            return
        e = done.exception()
        if e is not None:
            if not fut.done():
                fut.set_exception(e)
            return
        result, topics = done.result()
        self._committed(topics)
        if not fut.done():
            fut.set_result(result)

    def _committed(self, topics: set[str]) -> None:
        self._commits += 1
        for topic in topics:
            for listener in self._listeners.get(topic, ()):
                try:
                    listener()
                except Exception:  # noqa: BLE001 - one listener's fault is not the writer's
                    log.exception("store: a commit listener on %r failed", topic)

    async def _checkpoint_loop(self) -> None:
        """Copy the WAL into the database now and then, beside the writer: a PASSIVE
        checkpoint never blocks it. The writer reuses the WAL from its start once it is
        all copied, and `journal_size_limit` trims the file then."""
        assert self._checkpointer is not None
        copied = -1  # commits known to be in the database file
        while True:
            await asyncio.sleep(1.0)
            if self._commits == copied:
                continue  # nothing new in the WAL: an idle node stays asleep
            upto = self._commits
            try:
                rows = await self._checkpointer.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as e:
                log.debug("store: checkpoint skipped (%s)", e)
                continue
            busy, in_wal, done = next(iter(rows), (1, 0, -1))
            if not busy and in_wal == done:
                copied = upto  # all of it; until the next commit there is nothing to do

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        conn = self._reader
        if conn is None:
            raise StoreError("the store is closed")
        # One hop to the database thread per query (execute + fetch + close would be three).
        return list(await conn.execute_fetchall(sql, tuple(params)))

    async def one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.one(sql, params)
        return None if row is None else row[0]
