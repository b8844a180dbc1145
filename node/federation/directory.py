"""The directory: this space's own profile, every space's profile, and who is online.

The own profile is a record like any other: created from config at first start, changed
by the operator (PUT /api/space) or by edited config, published through the outbox.
Presence is a signed heartbeat on core NATS (not stored: missing one costs nothing); it
also carries the space's public chain head, which lets peers notice records they lack.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

import msgspec
import nats.errors
from nats.aio.msg import Msg

from node.bus.connection import Bus
from node.config import Config
from node.errors import Invalid, NotFound, PreconditionFailed, Rejected
from node.federation import outbox, records
from node.federation.identity import Identity, open_call, sign_call
from node.federation.intake import Rejection
from node.federation.kinds import Kind
from node.store import Store, Tx
from node.supervisor import forever
from schemas.envelope import PUB, Header
from schemas.rpc import PRESENCE_TAG, Presence
from schemas.space import LOCATION, ProfileEdit, SpaceProfile, VisaPolicy

__all__ = ["Directory", "edit_profile", "profile_from_config", "box_key_of", "SPACE", "KIND"]

log = logging.getLogger(__name__)
KIND: Final = "space"
BEAT_SKEW: Final = dt.timedelta(minutes=10)  # how far a beat's time may be from this clock


def _check_space(h: Header, body: msgspec.Struct, signer: bytes) -> None:
    """A space record describes its own author, and names the key that signed it."""
    assert isinstance(body, SpaceProfile)
    if body.id != h.author or h.record_id != h.author:
        raise Rejection("header_mismatch", "a space record must describe its author", author=h.author)
    if body.sign_key != signer:
        raise Rejection("key_mismatch", "the space record names another signing key", author=h.author)


def box_key_of(tx: Tx, space: str) -> bytes | None:
    """The key to seal a dm to `space`: the one its newest applied profile or rotation names.

    A rotation names the space's next box key before its next profile does; sealing to
    the profile's key alone would box every dm in between to a key the space has left.
    """
    row = tx.one("SELECT box_key FROM pins WHERE space = ?", (space,))
    if row is not None and row[0]:
        return bytes(row[0])
    held = records.get_in(tx, space, KIND, space, SpaceProfile)
    return held[0].box_key if held else None


SPACE: Final = Kind(name=KIND, body=SpaceProfile, check=_check_space, summary="a space's profile and public keys")


def profile_from_config(config: Config, ident: Identity) -> SpaceProfile:
    s = config.space
    return SpaceProfile(
        id=s.id, name=s.name, name_ja=s.name_ja, city=s.city, url=s.url,
        sign_key=ident.sign_key, box_key=ident.box_key,
    )


def edit_profile(current: SpaceProfile, edit: ProfileEdit) -> SpaceProfile:
    """The operator's edit over the current profile; keys and id never change here.

    A location is both coordinates or neither: a dot on the map needs the two."""
    changes = {f: v for f in ProfileEdit.__struct_fields__
               if (v := getattr(edit, f)) is not None and v is not msgspec.UNSET}
    changes.update({f: None for f in LOCATION if getattr(edit, f) is None})
    if "visa_policy" in changes:  # the strict HTTP twin, as the record's own type (else never equal)
        changes["visa_policy"] = VisaPolicy(**msgspec.structs.asdict(changes["visa_policy"]))
    new = msgspec.structs.replace(current, **changes)
    if (new.latitude is None) != (new.longitude is None):
        missing = "longitude" if new.longitude is None else "latitude"
        raise Invalid("latitude and longitude go together: give both, or clear both", field=missing)
    return new


class Directory:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        ident: Identity,
        config: Config,
        *,
        on_head: Callable[[str, str, int], None],
        on_online: Callable[[str], None] = lambda space: None,
        http_url: str = "",
    ) -> None:
        self._store = store
        self._bus = bus
        self._ident = ident
        self._config = config
        self._on_head = on_head
        self._on_online = on_online  # a known space is back (or seen for the first time)
        self.http_url = http_url
        self._interval = config.tuning.presence_interval
        self._seen: dict[str, float] = {}
        self._skewed: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Directory:
        await self.ensure_profile()
        self._tasks = [asyncio.create_task(forever("presence", self._beat), name="presence")]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # the own profile

    async def own(self) -> tuple[SpaceProfile, int] | None:
        me = self._ident.space
        return await records.get(self._store, me, KIND, me, SpaceProfile)

    async def ensure_profile(self) -> None:
        """Publish v1 at first start, and a new version when config changed the basics."""
        wanted = profile_from_config(self._config, self._ident)
        basics = ("name", "name_ja", "city", "url", "sign_key", "box_key")

        def change(current: SpaceProfile | None) -> SpaceProfile | None:
            if current is None:
                return wanted
            if all(getattr(current, f) == getattr(wanted, f) for f in basics):
                return None
            return msgspec.structs.replace(current, **{f: getattr(wanted, f) for f in basics})

        await self._update(change)

    async def edit(self, edit: ProfileEdit, *, expect: int | None = None) -> tuple[SpaceProfile, int]:
        """The operator's edit, in one transaction with the read it is based on.

        `expect`: the version the client last read (If-Match); another one means someone
        changed the profile since, and nothing is changed (412). An edit that changes
        nothing publishes nothing.
        """
        me, ident = self._ident.space, self._ident

        def unit(tx: Tx) -> tuple[SpaceProfile, int]:
            held = records.get_in(tx, me, KIND, me, SpaceProfile)
            if held is None:
                raise NotFound("this space has no profile yet")
            if expect is not None and held[1] != expect:
                raise PreconditionFailed(
                    f"the profile is at version {held[1]}, not {expect}: read it again, then edit", field="If-Match")
            new = edit_profile(held[0], edit)
            if new == held[0]:
                return held
            outbox.append(tx, ident, kind=KIND, record_id=me, version=held[1] + 1, body=new)
            return new, held[1] + 1

        return await self._store.transact(unit)

    async def _update(
        self, change: Callable[[SpaceProfile | None], SpaceProfile | None]
    ) -> tuple[SpaceProfile, int] | None:
        """Read, change and publish in one transaction, so concurrent edits serialise."""
        me, ident = self._ident.space, self._ident

        def unit(tx: Tx) -> tuple[SpaceProfile, int] | None:
            held = records.get_in(tx, me, KIND, me, SpaceProfile)
            new = change(held[0] if held else None)
            if new is None:
                return None
            version = (held[1] if held else 0) + 1
            outbox.append(tx, ident, kind=KIND, record_id=me, version=version, body=new)
            return new, version

        done = await self._store.transact(unit)
        if done is not None:
            log.info("directory: published profile of %s, version %d", me, done[1])
        return done

    # every space

    def online(self, space: str) -> bool:
        if space == self._ident.space:
            return self._bus.ready
        seen = self._seen.get(space)
        return seen is not None and time.monotonic() - seen < 3 * self._interval

    def peers(self) -> list[str]:
        return [s for s in self._seen if self.online(s)]

    def view(self, profile: SpaceProfile, version: int) -> dict[str, Any]:
        out = msgspec.to_builtins(profile)
        out.pop("type", None)
        out["version"] = version
        out["online"] = self.online(profile.id)
        return out  # type: ignore[no-any-return]

    async def spaces(self) -> list[dict[str, Any]]:
        rows = await records.of_kind(self._store, KIND, SpaceProfile)
        return [self.view(p, v) for _, p, v in rows]

    async def space(self, space_id: str) -> dict[str, Any]:
        held = await records.get(self._store, space_id, KIND, space_id, SpaceProfile)
        if held is None:
            raise NotFound(f"no space {space_id!r} in the directory", field="id")
        return self.view(*held)

    # presence

    async def _beat(self) -> None:
        await self._bus.wait_ready()
        await self._bus.nc.subscribe("hitode.presence.*", cb=self._on_beat)
        me = self._ident.space
        while True:
            if self._bus.ready:
                seq = await self._store.scalar("SELECT seq FROM chains WHERE author = ? AND channel = ?", (me, PUB))
                beat = Presence(space=me, at=dt.datetime.now(dt.UTC), pub_seq=int(seq or 0), http_url=self.http_url)
                try:
                    await self._bus.nc.publish(f"hitode.presence.{me}", sign_call(self._ident, PRESENCE_TAG, beat))
                except nats.errors.Error as e:
                    log.debug("presence: %s", e)
            await asyncio.sleep(self._interval)

    async def _on_beat(self, msg: Msg) -> None:
        try:
            beat, key = open_call(msg.data, PRESENCE_TAG, Presence)
        except Rejected:
            return
        me = self._ident.space
        if beat.space == me or msg.subject != f"hitode.presence.{beat.space}":
            return
        if abs(dt.datetime.now(dt.UTC) - beat.at) > max(BEAT_SKEW, dt.timedelta(seconds=3 * self._interval)):
            # Out of time: a replayed beat, or a clock far off. Neither says "online now".
            if beat.space not in self._skewed:
                self._skewed.add(beat.space)
                log.info("presence: a beat of %s is dated %s; is a clock wrong?", beat.space, beat.at.isoformat())
            return
        pinned = await self._store.scalar("SELECT sign_key FROM pins WHERE space = ?", (beat.space,))
        if pinned is not None and bytes(pinned) != key:
            return  # a beat for another space's id: ignore, records decide trust
        if pinned is None and len(self._seen) > 1000:
            return  # unknown ids cannot grow this without bound
        self._skewed.discard(beat.space)
        back = not self.online(beat.space)
        self._seen[beat.space] = time.monotonic()
        if pinned is not None:
            self._on_head(beat.space, PUB, beat.pub_seq)
            if back:
                self._on_online(beat.space)
