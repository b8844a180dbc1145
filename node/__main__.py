"""`python -m node` is the `hitode` command."""

import sys

from node.cli import main

sys.exit(main())
