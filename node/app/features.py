"""The features a node runs by default. Adding a capability is one line here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from node import events, lab, members, notes, ops, requests, spaces, tickets, visas
from node.feature import Feature
from node.federation.directory import SPACE
from node.federation.kinds import Kinds
from node.federation.rotation import ROTATION

__all__ = ["DEFAULT", "kinds_of"]

DEFAULT: Final[tuple[Feature, ...]] = (
    spaces.FEATURE,
    members.FEATURE,
    events.FEATURE,
    notes.FEATURE,
    ops.FEATURE,
    requests.FEATURE,
    tickets.FEATURE,
    visas.FEATURE,
    lab.FEATURE,
)


def kinds_of(features: Iterable[Feature]) -> Kinds:
    """The kernel's own kinds (a space's profile and key rotation) and the features'."""
    return Kinds([SPACE, ROTATION, *(k for f in features for k in f.kinds)])
