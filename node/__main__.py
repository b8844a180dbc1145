"""`python -m node` is the `hitode` command."""

import sys

from node.app.cli import main

sys.exit(main())
