"""Members: the people of this space. Their data never leaves the node (DESIGN §6);
other features federate only a pseudonymous id derived here."""

from pathlib import Path

from node.feature import Feature
from node.members.pages import PAGES
from node.members.routes import ROUTES
from node.members.rules import MIGRATIONS

__all__ = ["FEATURE"]

FEATURE = Feature(name="members", routes=ROUTES, migrations=MIGRATIONS, pages=PAGES,
                  templates=Path(__file__).parent / "templates")
