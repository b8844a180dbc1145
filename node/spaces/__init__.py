"""Spaces: the federation directory as operators and scripts read it, and this space's own
profile as its operator edits it. The space record itself (kind `space`, with the keys) is
the kernel's: every record's trust starts from it."""

from pathlib import Path

from node.feature import Feature
from node.spaces.pages import PAGES
from node.spaces.routes import ROUTES

__all__ = ["FEATURE"]

FEATURE = Feature(name="spaces", routes=ROUTES, pages=PAGES, templates=Path(__file__).parent / "templates")
