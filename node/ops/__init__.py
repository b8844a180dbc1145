"""Running a space for real: its nats-server config and certificates, invitations and
joins, status, backup and restore.

The feature part holds what the running node itself does for it (the `invitations` table,
`POST /api/invitations`, the join desk, the pages on refused records and alerts and on
invitations); the rest are modules the `hitode` command uses.
The kernel never imports this package.
"""

from pathlib import Path

from node.feature import Feature
from node.ops.desk import ROUTES, join_desk
from node.ops.invitation import MIGRATIONS
from node.ops.invitations_page import PAGES as INVITATION_PAGES
from node.ops.refused import PAGES as REFUSED_PAGES

__all__ = ["FEATURE"]

FEATURE = Feature(name="ops", routes=ROUTES, migrations=MIGRATIONS, parts=(join_desk,),
                  pages=(*REFUSED_PAGES, *INVITATION_PAGES), templates=Path(__file__).parent / "templates",
                  static=Path(__file__).parent / "static")
