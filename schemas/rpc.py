"""Request/reply payloads on core NATS (`hitode.rpc.<to>.<op>`) and the presence beat.

Requests are signed by the caller like records (its own domain tag, so neither can be
replayed as the other): `sync` serves a dm channel only to its recipient.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from schemas.envelope import Channel
from schemas.ids import SpaceId
from schemas.time import AwareDateTime

__all__ = ["RPC_TAG", "PRESENCE_TAG", "HEAD_TAG", "SyncRequest", "SyncReply", "Presence", "DmHead", "SignedCall"]

RPC_TAG: Final = b"hitode/v1/rpc\x00"
PRESENCE_TAG: Final = b"hitode/v1/presence\x00"
HEAD_TAG: Final = b"hitode/v1/head\x00"


class SignedCall(msgspec.Struct, frozen=True, kw_only=True):
    """A signed request or beat: `signed` = tag + MessagePack of the payload."""

    signed: bytes
    sig: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]
    key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class SyncRequest(msgspec.Struct, frozen=True, kw_only=True):
    """ "Records of `author` on `channel` after `after`", asked by `caller`.

    `reply` is the inbox the caller listens on; it is signed with the rest, a dm channel
    is served only to the inbox the request names, and only once, so a captured request
    replayed fetches nothing.
    """

    caller: SpaceId
    author: SpaceId
    channel: Channel
    after: Annotated[int, msgspec.Meta(ge=0)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200
    at: AwareDateTime
    reply: Annotated[str, msgspec.Meta(max_length=255)] = ""


class SyncReply(msgspec.Struct, frozen=True, kw_only=True):
    """Raw envelopes in seq order; they verify themselves. `error` when refused."""

    envelopes: list[bytes] = []
    error: str = ""


class Presence(msgspec.Struct, frozen=True, kw_only=True):
    """A heartbeat: who is online, and how far its public chain goes (for gap repair)."""

    space: SpaceId
    at: AwareDateTime
    pub_seq: Annotated[int, msgspec.Meta(ge=0)]
    http_url: str = ""


class DmHead(msgspec.Struct, frozen=True, kw_only=True):
    """On `hitode.rpc.<to>.head`, to that space alone: how far the dm chain `author`
    writes to it goes. Sent when the recipient comes online, so a dm lost at the end of
    a chain (nothing after it shows a gap) is asked for, from its author only; nobody
    else learns who writes to whom.
    """

    author: SpaceId
    to: SpaceId
    seq: Annotated[int, msgspec.Meta(ge=1)]
    at: AwareDateTime
