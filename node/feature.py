"""The one declaration a capability hands the kernel: everything it brings, in one place.

A feature package (spaces/, events/, members/, notes/, …) exposes `FEATURE`, a `Feature`
naming its record kinds (with their body rule and what happens when one is applied), its
HTTP routes, its dashboard pages and their templates, its migrations, its running parts
and the request/reply operations it answers for other spaces. The node (app/) composes the kernel
with the features it is given; nothing in the kernel names a feature, so adding one is a
new package and one line in app/features.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import msgspec

from node.context import Context
from node.federation.kinds import Kind
from node.web.page import Page, Panel
from node.web.route import Route

__all__ = ["Feature", "PartFactory", "Operation", "OperationHandler", "check_composition"]

# Makes one running part (a loop, a client) from the node's context; entered after the
# kernel's parts and left before them. The entered object is what `Context.part` returns.
PartFactory = Callable[[Context], AbstractAsyncContextManager[object]]
# Answers one signed request of another space (node/federation/rpc.py verifies it first):
# (this node, the caller's space id, the request body as MessagePack) -> the answer.
OperationHandler = Callable[[Context, str, bytes], Awaitable[msgspec.Struct]]


class Operation(msgspec.Struct, frozen=True, kw_only=True):
    """An op served on `hitode.rpc.<this space>.<name>` (DESIGN §4: a visa check, say)."""

    name: str
    handler: OperationHandler
    summary: str = ""


class Feature(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # also the owner of its migrations: a-z, 0-9, _
    requires: tuple[str, ...] = ()  # features whose tables or rules this one uses
    kinds: tuple[Kind, ...] = ()
    routes: tuple[Route, ...] = ()
    pages: tuple[Page, ...] = ()  # dashboard pages (HTML), templates named "<name>/<file>.html"
    panels: tuple[Panel, ...] = ()  # its parts of the today page, templates in the same folder
    templates: Path | None = None  # the folder those templates are in
    migrations: tuple[str, ...] = ()
    parts: tuple[PartFactory, ...] = ()
    operations: tuple[Operation, ...] = ()


def check_composition(features: Sequence[Feature]) -> None:
    """Names unique, never the kernel's, and every feature's requirements present; panel
    names unique (each is an element id on the today page)."""
    names = [f.name for f in features]
    panels = [p.name for f in features for p in f.panels]
    if twice := sorted({p for p in panels if panels.count(p) > 1}):
        raise ValueError(f"panel name {twice[0]!r} is taken")
    for f in features:
        if f.name == "kernel" or names.count(f.name) > 1:
            raise ValueError(f"feature name {f.name!r} is taken")
        missing = [r for r in f.requires if r not in names]
        if missing:
            raise ValueError(f"feature {f.name!r} needs {', '.join(missing)}, which this node does not run")
