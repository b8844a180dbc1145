"""QR codes as pages place them: a page's CSS may draw a code smaller or larger than its
natural size, and the code must then be scaled whole (its quiet zone too), never cropped."""

from __future__ import annotations

import re

from node.web.qr import render


def test_a_pass_code_says_its_natural_size_and_can_be_scaled_by_the_page() -> None:
    """A version-10 code at 4 px a module is 260 px wide; the visa page shows it 16rem wide.
    With a viewBox the browser scales the drawing into that box instead of cutting its edge."""
    code = render("HV1:" + "A" * 300)
    assert code.version == 10
    size = (57 + 8) * 4  # modules and the quiet zone, 4 px each
    svg = code.svg
    assert re.search(rf'width="{size}" height="{size}" viewBox="0 0 {size} {size}"', svg), svg[:200]


def test_a_code_made_to_fit_has_no_natural_size_only_its_view_box() -> None:
    svg = render("hitode-invite:" + "a" * 100, fit=True).svg
    assert "viewBox=" in svg and "width=" not in svg.split(">", 1)[0]
