"""What the dashboard serves from /static/ is what was vendored: htmx is one pinned file
(npm htmx.org@2.0.4, dist/htmx.min.js), checked by its hash, configured so that it needs
no inline style or eval under the CSP."""

from __future__ import annotations

import hashlib
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "node" / "web" / "static"
HTMX_SHA256 = "e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447"


def test_htmx_is_the_pinned_release_and_the_layout_turns_off_what_the_csp_forbids() -> None:
    assert hashlib.sha256((STATIC / "htmx-2.0.4.min.js").read_bytes()).hexdigest() == HTMX_SHA256
    layout = (STATIC.parent / "templates" / "layout.html").read_text()
    assert '"includeIndicatorStyles": false' in layout and '"allowEval": false' in layout
    assert "<script>" not in layout and "http://" not in layout and "https://" not in layout
