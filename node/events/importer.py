"""Importing a space's existing calendar feeds (.ics URLs) into its own events.

Many spaces already keep their events in a calendar that publishes an .ics feed. The
importer polls each feed (conditional GET), and turns new, changed and removed VEVENTs
into this space's own event records, through the outbox like any edit. Ids derive from
the feed URL, the VEVENT UID and the occurrence, so importing again never duplicates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec
import yarl

from node.errors import BadInput, Invalid
from node.events import rsvps
from node.events import rules as events
from node.federation import records
from node.federation.identity import Identity
from node.store import Store, Tx

if TYPE_CHECKING:
    from node.events import feeds
from node.supervisor import forever
from schemas.event import Event

__all__ = ["Importer"]

log = logging.getLogger(__name__)


def _prefix(space: str, url: str) -> str:
    return f"{space}.{hashlib.sha256(url.encode()).hexdigest()[:8]}."


class Importer:
    def __init__(self, store: Store, ident: Identity, *, interval: float = 900.0) -> None:
        self._store = store
        self._ident = ident
        self._interval = interval
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Importer:
        self._session = aiohttp.ClientSession(headers={"User-Agent": "hitode-calendar-import"})
        self._task = asyncio.create_task(forever("feed import", self._loop), name="feed-import")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.poll_all()

    async def listing(self) -> list[dict[str, Any]]:
        rows = await self._store.all("SELECT url, polled_at, imported, error, added_at FROM feeds ORDER BY added_at")
        return [dict(r) for r in rows]

    async def add(self, url: str) -> dict[str, Any]:
        try:
            u = yarl.URL(url)
            ok = u.scheme in ("http", "https") and bool(u.host)
        except (ValueError, UnicodeError):
            ok = False
        if not ok:
            raise BadInput("a feed is an http(s) URL of an .ics calendar", field="url")
        new = await self._store.transact(
            lambda tx: tx.execute("INSERT OR IGNORE INTO feeds (url, added_at) VALUES (?, ?)", (url, time.time())).rowcount > 0
        )
        result = await self.poll(url)
        if new and result.get("error"):
            # A feed that does not work when it is added is a typo, not an outage: refuse it.
            await self._store.transact(lambda tx: tx.execute("DELETE FROM feeds WHERE url = ?", (url,)).rowcount)
            raise Invalid(str(result["error"]), field="url")
        return result

    async def poll_all(self) -> list[dict[str, Any]]:
        return [await self.poll(r["url"]) for r in await self.listing()]

    async def poll(self, url: str) -> dict[str, Any]:
        """Fetch one feed and bring this space's events in line with it."""
        # icalendar and its helpers (some 4 MiB) are loaded at the first poll, not by every
        # node at start: most spaces never import a feed.
        from node.events import feeds

        assert self._session is not None
        async with self._lock:  # one poll at a time: two would plan from the same state
            row = await self._store.one("SELECT etag, last_modified FROM feeds WHERE url = ?", (url,))
            if row is None:
                raise BadInput(f"no feed {url}", field="url")
            out: dict[str, Any] = {"url": url, "changed": False, "created": 0, "updated": 0, "cancelled": 0}
            try:
                got = await feeds.fetch(self._session, url, etag=row["etag"], last_modified=row["last_modified"])
                now = dt.datetime.now(dt.UTC)
                parsed = await asyncio.to_thread(feeds.parse, got.body, now=now) if got.changed else []
            except BadInput as e:
                log.warning("import: %s: %s", url, e.message)
                await self._note(url, error=e.message)
                return {**out, "error": e.message}
            if got.changed:
                out.update(await self._apply(url, parsed, now), changed=True)
            await self._note(url, etag=got.etag, last_modified=got.last_modified, imported=len(parsed) if got.changed else None)
            if out["created"] or out["updated"] or out["cancelled"]:
                log.info("import: %s: %d new, %d changed, %d removed", url, out["created"], out["updated"], out["cancelled"])
            return out

    async def _apply(self, url: str, parsed: list[feeds.FeedEvent], now: dt.datetime) -> dict[str, int]:
        from node.events import feeds

        me, ident = self._ident.space, self._ident
        prefix = _prefix(me, url)
        feed = [msgspec.structs.replace(fe, record_id=prefix + fe.record_id) for fe in parsed]

        def unit(tx: Tx) -> dict[str, int]:
            held: dict[str, tuple[Event, int]] = {}
            ids = [r[0] for r in tx.all(
                "SELECT record_id FROM records WHERE author = ? AND kind = ? AND record_id LIKE ?",
                (me, events.KIND, prefix + "%"),
            )]
            for rid in ids:
                got = records.get_in(tx, me, events.KIND, rid, Event)
                if got is not None:
                    held[rid] = got
            removed = {r[0] for r in tx.all("SELECT record_id FROM feed_removed WHERE record_id LIKE ?", (prefix + "%",))}
            todo = feeds.plan(feed, {k: v[0] for k, v in held.items()}, now=now, removed=removed)
            done = {"created": 0, "updated": 0, "cancelled": 0}
            changes = [("created", fe, None) for fe in todo.create] + [("updated", fe, prev) for fe, prev in todo.update]
            for what, fe, prev in changes:
                event = feeds.to_event(fe, space=me, prev=prev)
                try:
                    events.check_times(event.start, event.end, now=now)
                    events.save(tx, ident, event, held[prev.id][1] + 1 if prev else 1)
                except BadInput as e:  # one odd VEVENT is skipped, not the feed
                    log.warning("import: %s: skipped %r: %s", url, fe.title, e.message)
                    continue
                done[what] += 1
                if prev is not None and prev.status == "cancelled":
                    tx.execute("DELETE FROM feed_removed WHERE record_id = ?", (prev.id,))
            live = [e for e, _ in held.values() if e.status != "cancelled" and e.end > now]
            if not feed and live and len(todo.cancel) == len(live):
                # A feed that suddenly lists nothing is more likely a glitch than every
                # event called off: keep them, and say so.
                log.warning("import: %s lists no events now; not cancelling its %d events", url, len(live))
                return done
            for prev in todo.cancel:
                rsvps.cancel_event(tx, ident, prev, held[prev.id][1])
                tx.execute("INSERT OR IGNORE INTO feed_removed (record_id) VALUES (?)", (prev.id,))
                done["cancelled"] += 1
            return done

        return await self._store.transact(unit)

    async def _note(
        self, url: str, *, error: str = "", etag: str | None = None, last_modified: str | None = None,
        imported: int | None = None,
    ) -> None:
        await self._store.transact(lambda tx: tx.execute(
            "UPDATE feeds SET polled_at = ?, error = ?, etag = coalesce(?, etag),"
            " last_modified = coalesce(?, last_modified), imported = coalesce(?, imported) WHERE url = ?",
            (time.time(), error, etag, last_modified, imported, url),
        ).rowcount)
