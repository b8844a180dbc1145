"""The visa pages: the front desk (check in, check out, who is here), the settlement, and
a member's passes."""

from __future__ import annotations

from typing import Final

from node.web.page import Page

__all__ = ["PAGES"]

PAGES: Final[tuple[Page, ...]] = ()
