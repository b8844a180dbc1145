"""Record kinds: what a feature declares about each kind of record it puts on the bus.

The kernel moves envelopes; it learns what is inside them only from these declarations.
A `Kind` names its body Struct, its channel (`pub` to everyone, or `dm` sealed to one
space), the rule tying a received body to its signed header, and what happens when one
is applied at this node (run inside the apply transaction, so whatever it writes or
sends commits with the record or not at all). `Kinds` is the table the node composes
from the kernel's own kinds and every feature's; there is no `if kind == …` anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

import msgspec

from node.federation.identity import Identity
from node.store import Tx
from schemas.envelope import Header

__all__ = ["Kind", "Kinds", "Reactor", "BodyCheck"]

# (tx, this node's identity, the signed header, the opened body, the sender's box key)
Reactor = Callable[[Tx, Identity, Header, msgspec.Struct, bytes], None]
# (the signed header, the opened body, the signer's key); raises BadInput or Rejection
BodyCheck = Callable[[Header, msgspec.Struct, bytes], None]


class Kind(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    body: type[msgspec.Struct]
    dm: bool = False
    check: BodyCheck | None = None
    on_apply: Reactor | None = None
    # This node's own record coming back from a peer (a node restored from a backup takes
    # back what it wrote since): no `on_apply`, whose effects are a peer's record's (the
    # own write did its own), but what the own write path keeps beside the record (a search
    # index) must follow the version taken back.
    on_taken_back: Reactor | None = None
    # Addressed by its id alone (GET /api/events/{id}): the id belongs to the first
    # author seen with it, at every version, and another author's record under it is
    # refused.
    unique_id: bool = False
    summary: str = ""


class Kinds:
    """The kinds this node knows, with one decoder each (built once)."""

    def __init__(self, kinds: Iterable[Kind]) -> None:
        self._kinds: dict[str, Kind] = {}
        for k in kinds:
            if k.name in self._kinds:
                raise ValueError(f"record kind {k.name!r} is declared twice")
            self._kinds[k.name] = k
        self._decoders: Final = {k.name: msgspec.msgpack.Decoder(k.body) for k in self._kinds.values()}

    def __iter__(self) -> Iterator[Kind]:
        return iter(self._kinds.values())

    def get(self, name: str) -> Kind | None:
        return self._kinds.get(name)

    def decode(self, name: str, data: bytes) -> msgspec.Struct:
        """Decode a verified body by its header kind; raises msgspec errors or KeyError."""
        body: msgspec.Struct = self._decoders[name].decode(data)
        return body
