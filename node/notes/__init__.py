"""Notes: sealed direct messages between the operators of two spaces (kind `note`, dm)."""

from pathlib import Path

from node.feature import Feature
from node.federation.kinds import Kind
from node.notes.pages import PAGES
from node.notes.routes import ROUTES
from node.notes.rules import KIND
from schemas.note import Note

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="notes",
    kinds=(Kind(name=KIND, body=Note, dm=True, summary="a note from one operator to another"),),
    routes=ROUTES,
    pages=PAGES,
    templates=Path(__file__).parent / "templates",
)
