"""Request/reply payloads on core NATS (`hitode.rpc.<to>.<op>`) and the presence beat.

Requests are signed by the caller like records (its own domain tag, so neither can be
replayed as the other): `sync` serves a dm channel only to its recipient.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

import msgspec

from schemas.envelope import Channel
from schemas.ids import SpaceId

__all__ = ["RPC_TAG", "PRESENCE_TAG", "SyncRequest", "SyncReply", "Presence", "SignedCall"]

RPC_TAG: Final = b"hitode/v1/rpc\x00"
PRESENCE_TAG: Final = b"hitode/v1/presence\x00"


class SignedCall(msgspec.Struct, frozen=True, kw_only=True):
    """A signed request or beat: `signed` = tag + MessagePack of the payload."""

    signed: bytes
    sig: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]
    key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class SyncRequest(msgspec.Struct, frozen=True, kw_only=True):
    """ "Records of `author` on `channel` after `after`", asked by `caller`.

    `reply` is the inbox the caller listens on; it is signed with the rest, and a dm
    channel is served only to the inbox the request names, so a captured request replayed
    from elsewhere fetches nothing.
    """

    caller: SpaceId
    author: SpaceId
    channel: Channel
    after: Annotated[int, msgspec.Meta(ge=0)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200
    at: Annotated[dt.datetime, msgspec.Meta(tz=True)]
    reply: Annotated[str, msgspec.Meta(max_length=255)] = ""


class SyncReply(msgspec.Struct, frozen=True, kw_only=True):
    """Raw envelopes in seq order; they verify themselves. `error` when refused."""

    envelopes: list[bytes] = []
    error: str = ""


class Presence(msgspec.Struct, frozen=True, kw_only=True):
    """A heartbeat: who is online, and how far its chains go (for gap repair).

    `dm_heads` names, per recipient, the seq of the dm chain the beating space writes to
    it, so a recipient that lost the newest dm learns it from the beat and asks that
    author alone (nobody asks every peer on a timer). The bus already shows who writes to
    whom in its dm subjects; a beat tells its members nothing more.
    """

    space: SpaceId
    at: Annotated[dt.datetime, msgspec.Meta(tz=True)]
    pub_seq: Annotated[int, msgspec.Meta(ge=0)]
    http_url: str = ""
    dm_heads: Annotated[dict[SpaceId, Annotated[int, msgspec.Meta(ge=1)]], msgspec.Meta(max_length=10_000)] = {}
