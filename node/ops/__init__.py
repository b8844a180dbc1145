"""Running a space for real: its nats-server config and certificates, invitations and
joins, status, backup and restore.

The feature part holds what the running node itself does for it (the `invitations` table,
`POST /api/invitations`, the join desk, the page on refused records and alerts); the rest are modules the `hitode` command uses.
The kernel never imports this package.
"""

from pathlib import Path

from node.feature import Feature
from node.ops.desk import ROUTES, join_desk
from node.ops.invitation import MIGRATIONS
from node.ops.refused import PAGES

__all__ = ["FEATURE"]

FEATURE = Feature(name="ops", routes=ROUTES, migrations=MIGRATIONS, parts=(join_desk,), pages=PAGES,
                  templates=Path(__file__).parent / "templates")
