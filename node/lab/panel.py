"""The LAB's part of the today page: the latest posts and reports across the themes this
node's view shows, so the operator sees new know-how (and what may need a label) at once.
It is part of the today page's live fragment, so new activity appears without a reload."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from node.context import Context
from node.lab import discussion, labels
from node.lab.pages import dated
from node.lab.routes import names
from node.web.page import Panel
from node.web.shell import translator

__all__ = ["PANEL"]

SHOWN: Final = 8


async def load(node: Context, request: web.Request) -> Mapping[str, Any]:
    view = await labels.view(node.store, node.space)
    recent = await discussion.activity(node.store, await names(node), view, limit=SHOWN)
    dated(recent, translator(request))
    return {"lab_activity": recent, "me": node.space}


PANEL: Final = Panel(name="lab", template="lab/panel_activity.html", load=load, order=60)
