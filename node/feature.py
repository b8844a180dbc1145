"""The one declaration a capability hands the kernel: everything it brings, in one place.

A feature package (spaces/, events/, members/, notes/, …) exposes `FEATURE`, a `Feature`
naming its record kinds (with their body rule and what happens when one is applied), its
HTTP routes, its migrations and its running parts. The node (app/) composes the kernel
with the features it is given; nothing in the kernel names a feature, so adding one is a
new package and one line in app/features.py.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import msgspec

from node.context import Context
from node.federation.kinds import Kind
from node.web.route import Route

__all__ = ["Feature", "PartFactory"]

# Makes one running part (a loop, a client) from the node's context; entered after the
# kernel's parts and left before them. The entered object is what `Context.part` returns.
PartFactory = Callable[[Context], AbstractAsyncContextManager[object]]


class Feature(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # also the owner of its migrations: a-z, 0-9, _
    kinds: tuple[Kind, ...] = ()
    routes: tuple[Route, ...] = ()
    migrations: tuple[str, ...] = ()
    parts: tuple[PartFactory, ...] = ()
