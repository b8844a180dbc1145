"""The one declaration a capability hands the kernel: everything it brings, in one place.

A feature package (spaces/, events/, members/, notes/, …) exposes `FEATURE`, a `Feature`
naming its record kinds (with their body rule and what happens when one is applied), its
HTTP routes, its dashboard pages and their templates, its migrations, its running parts
and any JetStream stream of its own. The node (app/) composes the kernel
with the features it is given; nothing in the kernel names a feature, so adding one is a
new package and one line in app/features.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import msgspec

from node.bus.connection import StreamFactory
from node.context import Context
from node.federation.kinds import Kind
from node.web.page import Page
from node.web.route import Route

__all__ = ["Feature", "PartFactory", "check_composition"]

# Makes one running part (a loop, a client) from the node's context; entered after the
# kernel's parts and left before them. The entered object is what `Context.part` returns.
PartFactory = Callable[[Context], AbstractAsyncContextManager[object]]


class Feature(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # also the owner of its migrations: a-z, 0-9, _
    requires: tuple[str, ...] = ()  # features whose tables or rules this one uses
    kinds: tuple[Kind, ...] = ()
    routes: tuple[Route, ...] = ()
    pages: tuple[Page, ...] = ()  # dashboard pages (HTML), templates named "<name>/<file>.html"
    templates: Path | None = None  # the folder those templates are in
    migrations: tuple[str, ...] = ()
    parts: tuple[PartFactory, ...] = ()
    # JetStream streams besides HITODE that the feature needs (say, one with its own
    # limits): the bus makes each when it connects, and `hitode nats-stream` on a hub
    streams: tuple[StreamFactory, ...] = ()


def check_composition(features: Sequence[Feature]) -> None:
    """Names unique, never the kernel's, and every feature's requirements present."""
    names = [f.name for f in features]
    for f in features:
        if f.name == "kernel" or names.count(f.name) > 1:
            raise ValueError(f"feature name {f.name!r} is taken")
        missing = [r for r in f.requires if r not in names]
        if missing:
            raise ValueError(f"feature {f.name!r} needs {', '.join(missing)}, which this node does not run")
