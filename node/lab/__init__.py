"""The LAB: themes that spaces share, their discussion, experiment reports, and moderation
without a centre (DESIGN §12), searchable in Japanese (DESIGN §13).

Record kinds (all `pub`, signed by their author space, changed only by it): `lab_theme`,
`lab_post` and `lab_report`, addressed by their id alone (an id belongs to its first
author at every node, so another space's "edit" is refused everywhere); `lab_label`, a
space's hide/pin/approve (or its undoing) about one of them, which makes that space's view.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

from node.context import Context
from node.feature import Feature
from node.federation.kinds import Kind
from node.lab import edit_pages, index, labels
from node.lab.pages import PAGES
from node.lab.panel import PANEL
from node.lab.routes import ROUTES
from node.lab.rules import POST, REPORT, THEME, check_record
from schemas.lab import Label, Post, Report, Theme

__all__ = ["FEATURE"]


def _catch_up(ctx: Context) -> AbstractAsyncContextManager[object]:
    return index.CatchUp(ctx.store)


FEATURE = Feature(
    name="lab",
    requires=("members", "events"),  # a post may be a member's; a theme's meeting is an event
    kinds=(
        Kind(name=THEME, body=Theme, check=check_record, on_apply=index.on_apply, unique_id=True,
             summary="a LAB theme opened by its author space"),
        Kind(name=POST, body=Post, check=check_record, on_apply=index.on_apply, unique_id=True,
             summary="a post (or a reply) in a LAB theme"),
        Kind(name=REPORT, body=Report, check=check_record, on_apply=index.on_apply, unique_id=True,
             summary="an experiment report for a LAB theme"),
        Kind(name=labels.KIND, body=Label, check=labels.check_record,
             summary="a space's label (hide, pin, approve, or its undoing) about a LAB record"),
    ),
    routes=ROUTES,
    pages=PAGES + edit_pages.PAGES,
    panels=(PANEL,),
    templates=Path(__file__).parent / "templates",
    migrations=(labels.MIGRATION + index.INDEX.migration(),),
    parts=(_catch_up,),
)
