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


JSQR_SHA256 = "bc40c8a15196236b2314db0856f72ca0b49980cd5413b8c852a7349f5fee0859"


def test_the_qr_decoder_is_the_pinned_jsqr_release_with_its_licence_and_pages_load_it_from_the_shell() -> None:
    """jsQR 1.4.0 (Apache-2.0, the file the visa desk first vendored) decodes camera frames where
    the browser has no BarcodeDetector; one copy in node/, served by the shell for every scanner."""
    assert hashlib.sha256((STATIC / "jsQR-1.4.0.js").read_bytes()).hexdigest() == JSQR_SHA256
    assert "Apache License" in (STATIC / "jsQR-LICENSE.txt").read_text()
    copies = [p for p in STATIC.parents[1].rglob("jsQR*.js") if p != STATIC / "jsQR-1.4.0.js"]
    assert not copies, copies
