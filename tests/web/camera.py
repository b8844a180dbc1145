"""A camera for the browser tests: chromium's fake video capture, fed a still Y4M video of a QR
code, so that the dashboard's scanner (node/web/static/scan.js) reads it as a desk's webcam
would. The video is made either from a text (segno's QR code, as node/web/qr.py draws it) or
from a screenshot of the code a page shows (what a printed ticket looks like to the camera).

Also a small PNG reader for those screenshots (8-bit, not interlaced: what chromium writes),
so that no image library is needed.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import segno
from playwright.async_api import Browser, async_playwright

from tests.web.browser import CHROMIUM, FLAGS

__all__ = ["y4m_of_qr", "y4m_of_png", "camera_chromium", "SIDE"]

SIDE: Final = 640  # the fake camera's frame: a square, 640×640 pixels


def _write_y4m(luma: bytes, path: Path, side: int, frames: int) -> None:
    """A still video (YUV 4:2:0, grey: neutral chroma) of one luma frame."""
    chroma = b"\x80" * (side // 2) * (side // 2)
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{side} H{side} F5:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + luma + chroma + chroma)


def y4m_of_qr(text: str, path: Path, *, side: int = SIDE, frames: int = 10) -> None:
    """A still video of the QR code segno makes of `text`: what the camera sees."""
    qr = segno.make_qr(text, error="M", boost_error=False)
    matrix = [list(row) for row in qr.matrix]
    n = len(matrix) + 8  # a quiet zone of four modules around it
    scale = side // n
    offset = (side - n * scale) // 2
    luma = bytearray(b"\xff" * side * side)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    start = (offset + (y + 4) * scale + dy) * side + offset + (x + 4) * scale
                    luma[start:start + scale] = b"\x00" * scale
    _write_y4m(bytes(luma), path, side, frames)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def png_luma(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and grey levels (0 black … 255 white, transparency over white) of a PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, data, header = 8, b"", b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            data += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    assert depth == 8 and channels and not interlace, f"PNG depth {depth}, colour {colour}, interlace {interlace}"
    raw, stride = zlib.decompress(data), width * channels
    rows: list[bytearray] = []
    above = bytearray(stride)
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            corner = above[i - channels] if i >= channels else 0
            add = (0, left, above[i], (left + above[i]) // 2, _paeth(left, above[i], corner))[kind]
            row[i] = (row[i] + add) & 0xFF
        rows.append(row)
        above = row
    grey = bytearray(width * height)
    for y, row in enumerate(rows):
        for x in range(width):
            px = row[x * channels:(x + 1) * channels]
            level = px[0] if channels <= 2 else (299 * px[0] + 587 * px[1] + 114 * px[2]) // 1000
            alpha = px[-1] if channels in (2, 4) else 255
            grey[y * width + x] = (level * alpha + 255 * (255 - alpha)) // 255
    return width, height, bytes(grey)


def y4m_of_png(png: bytes, path: Path, *, side: int = SIDE, frames: int = 10) -> None:
    """A still video of a picture (a screenshot of a QR code), as large as fits, on white."""
    width, height, grey = png_luma(png)
    fit = (side - 32) / max(width, height)
    w, h = int(width * fit), int(height * fit)
    left, top = (side - w) // 2, (side - h) // 2
    luma = bytearray(b"\xff" * side * side)
    for y in range(h):
        source = int(y / fit) * width
        start = (top + y) * side + left
        luma[start:start + w] = bytes(grey[source + int(x / fit)] for x in range(w))
    _write_y4m(bytes(luma), path, side, frames)


@asynccontextmanager
async def camera_chromium(video: Path, *, ask: bool = False) -> AsyncIterator[Browser]:
    """Debian's chromium whose camera shows `video`. A page may use it once its context is
    granted the camera; with `ask`, a page never granted it is asked, and headless chromium
    answers no (what an operator who refuses the browser's question gets); without, every
    page may use it unasked."""
    fake_ui = [] if ask else ["--use-fake-ui-for-media-stream"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=[*FLAGS, "--use-fake-device-for-media-stream", *fake_ui, f"--use-file-for-fake-video-capture={video}"])
        try:
            yield browser
        finally:
            await browser.close()
