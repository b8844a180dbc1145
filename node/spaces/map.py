"""The map of Japan on the federation page: the spaces drawn as labelled dots on a coastline
shipped with the node (japan.json: Natural Earth, public domain, simplified to ~10 KB), as
SVG made here on the server. No tile service, nothing fetched: a node offline draws it too.

The projection is equirectangular, with longitudes shortened by the cosine of the middle
latitude so that Japan keeps its shape; at this scale nothing better is needed. A space
shows online as a filled dot and offline as a hollow one with "(offline)" in its label, so
colour is never the only sign.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Final

import msgspec

__all__ = ["Map", "Dot", "draw", "outline"]

OUTLINE: Final = Path(__file__).parent / "japan.json"
SCALE: Final = 20.0  # SVG units per degree of latitude
MARGIN: Final = 0.6  # degrees around the coastline's bounds


class Dot(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    label: str
    online: bool
    x: float
    y: float
    anchor: str  # "start": label to the right of the dot, "end": to its left


class Map(msgspec.Struct, frozen=True, kw_only=True):
    width: float
    height: float
    outline: str  # SVG path data of the coastline
    dots: tuple[Dot, ...]
    elsewhere: tuple[str, ...]  # spaces with a location outside this map


class _Frame(msgspec.Struct, frozen=True):
    west: float
    east: float
    south: float
    north: float
    shrink: float  # cos(middle latitude)

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return round((lon - self.west) * self.shrink * SCALE, 1), round((self.north - lat) * SCALE, 1)

    def holds(self, lon: float, lat: float) -> bool:
        return self.west <= lon <= self.east and self.south <= lat <= self.north


@cache
def outline() -> tuple[_Frame, str]:
    """The frame around the shipped coastline, and the coastline as SVG path data."""
    rings: list[list[list[float]]] = json.loads(OUTLINE.read_text(encoding="utf-8"))["rings"]
    lons = [p[0] for r in rings for p in r]
    lats = [p[1] for r in rings for p in r]
    south, north = min(lats) - MARGIN, max(lats) + MARGIN
    frame = _Frame(min(lons) - MARGIN, max(lons) + MARGIN, south, north, math.cos(math.radians((south + north) / 2)))
    paths = []
    for ring in rings:
        points = [frame.xy(lon, lat) for lon, lat in ring]
        paths.append("M" + " L".join(f"{x:g},{y:g}" for x, y in points) + " Z")
    return frame, " ".join(paths)


def draw(spaces: list[dict[str, Any]], label_of: Callable[[dict[str, Any]], str] = lambda s: str(s["name"])) -> Map:
    """The map with every space that has a location; `label_of(space)` names its dot."""
    frame, path = outline()
    width, _ = frame.xy(frame.east, frame.south)
    _, height = frame.xy(frame.west, frame.south)
    dots, elsewhere = [], []
    for s in spaces:
        lat, lon = s.get("latitude"), s.get("longitude")
        if lat is None or lon is None:
            continue
        if not frame.holds(lon, lat):
            elsewhere.append(label_of(s))
            continue
        x, y = frame.xy(lon, lat)
        dots.append(Dot(id=s["id"], label=label_of(s), online=bool(s["online"]), x=x, y=y,
                        anchor="end" if x > width / 2 else "start"))
    return Map(width=width, height=height, outline=path, dots=tuple(dots), elsewhere=tuple(elsewhere))
