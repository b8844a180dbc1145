"""QR codes of short texts (signed tokens), as SVG for pages and PNG for printing and phones.

Error correction M (15 % of the code may be lost: a creased printout, a glare on a screen)
and by default never more than version 10 (57×57 modules), which any phone camera reads at
arm's length, printed or on a screen; a text that needs more is refused rather than printed
as a code nobody can scan. A caller whose code is only ever shown large on a screen, to a
phone held close (a long one-time line), may allow a higher version.
Alphanumeric text (base45) is encoded in QR's alphanumeric mode by segno itself.
"""

from __future__ import annotations

import io
from typing import Final

import msgspec

from node.errors import Invalid

__all__ = ["QrCode", "render", "MAX_VERSION"]

MAX_VERSION: Final = 10
ERROR: Final = "M"


class QrCode(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    svg: str  # an <svg> element, no XML declaration, to place in a page
    png: bytes


def render(text: str, *, scale: int = 4, max_version: int = MAX_VERSION, fit: bool = False) -> QrCode:
    """The SVG always has a viewBox, so a page's CSS may size it (scaled, never cropped);
    unless `fit`, it also says its natural size, `scale` px a module (what a client that
    does not size it shows). `fit`: no natural size (a large code scaled to a phone's width)."""
    import segno  # on first use: an idle node need not hold it (about 1 MiB)

    try:
        qr = segno.make_qr(text, error=ERROR, boost_error=False)
    except segno.DataOverflowError:
        raise Invalid("too long for a QR code", field="text") from None
    version = int(qr.version)
    if version > max_version:
        raise Invalid(f"needs a QR code of version {version}; at most {max_version} scans reliably", field="text")
    svg = io.BytesIO()
    qr.save(svg, kind="svg", scale=scale, xmldecl=False, svgns=True, svgclass="qr", title="QR", omitsize=True)
    drawing = svg.getvalue().decode()
    if not fit:
        width, height = qr.symbol_size(scale=scale)
        box = f' viewBox="0 0 {width} {height}"'
        drawing = drawing.replace(box, f' width="{width}" height="{height}"{box}', 1)
    png = io.BytesIO()
    qr.save(png, kind="png", scale=scale)
    return QrCode(version=version, svg=drawing, png=png.getvalue())
