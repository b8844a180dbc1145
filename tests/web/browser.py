"""Debian's chromium driven by Playwright, for the dashboard's tests: never a downloaded
browser. The flags keep chromium off the network it would otherwise call home to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from playwright.async_api import Browser, async_playwright

__all__ = ["chromium", "CHROMIUM", "PHONE", "LAPTOP"]

CHROMIUM: Final = Path("/usr/bin/chromium")
FLAGS: Final = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
PHONE: Final = {"width": 390, "height": 844}
LAPTOP: Final = {"width": 1280, "height": 800}


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    assert CHROMIUM.exists(), "install Debian's chromium: apt-get install chromium fonts-noto-cjk (make test does, as root)"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()
