"""A space's place on the map: an optional latitude and longitude in its profile, set over
PUT and PATCH (and the my-space form), checked at the edge, carried to the other spaces,
and drawn on the shipped outline of Japan."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.bus.embedded import EmbeddedNats
from node.spaces.map import draw, outline
from tests.eventually import eventually
from tests.spaces import HttpError, Space, spaces_for

KOBE = {"latitude": 34.69, "longitude": 135.19}


async def _refused(space: Space, method: str, body: dict[str, object]) -> tuple[int, str | None]:
    with pytest.raises(HttpError) as caught:
        await space.request(method, "/api/space", body)
    return caught.value.status, caught.value.body["error"]["field"]


async def test_kobe_puts_itself_on_the_map_and_sapporo_sees_it(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """PATCH sets both; GET shows them and PUT takes GET's answer back unchanged; a value out
    of range is a 400 naming its field, one without the other a 422, and nothing changes;
    null clears both; sapporo sees each version."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as (kobe, sapporo):
        assert {k: (await kobe.get("/api/spaces/kobe"))[k] for k in KOBE} == {"latitude": None, "longitude": None}
        await kobe.request("PATCH", "/api/space", KOBE)
        got = await kobe.get("/api/spaces/kobe")
        assert (got["latitude"], got["longitude"]) == (34.69, 135.19)
        again = await kobe.put("/api/space", {k: v for k, v in got.items() if k != "online"})
        assert again["version"] == got["version"]  # nothing changed, nothing published

        assert await _refused(kobe, "PATCH", {"latitude": 91}) == (400, "latitude")
        assert await _refused(kobe, "PATCH", {"longitude": -180.5}) == (400, "longitude")
        assert await _refused(kobe, "PATCH", {"latitude": "north"}) == (400, "latitude")
        assert await _refused(kobe, "PATCH", {"longitude": None}) == (422, "longitude")
        assert (await kobe.get("/api/spaces/kobe"))["version"] == got["version"]

        async def seen_at_sapporo(lat: float | None) -> bool:
            return (await sapporo.get("/api/spaces/kobe"))["latitude"] == lat

        await eventually(lambda: seen_at_sapporo(34.69), timeout=30)
        cleared = await kobe.request("PATCH", "/api/space", {"latitude": None, "longitude": None})
        assert (cleared["latitude"], cleared["longitude"]) == (None, None)
        await eventually(lambda: seen_at_sapporo(None), timeout=30)


def test_the_map_places_spaces_on_japan_and_lists_those_beyond_it() -> None:
    """Sapporo north-east of Kobe, Naha south-west of both, all inside the drawing; a space
    in Paris is named as outside the map; one without a location is not drawn."""
    spaces = [{"id": "kobe", "name": "Kobe", "online": True, **KOBE},
              {"id": "sapporo", "name": "Sapporo", "online": False, "latitude": 43.06, "longitude": 141.35},
              {"id": "naha", "name": "Naha", "online": True, "latitude": 26.21, "longitude": 127.68},
              {"id": "paris", "name": "Paris", "online": True, "latitude": 48.86, "longitude": 2.35},
              {"id": "nowhere", "name": "Nowhere", "online": True, "latitude": None, "longitude": None}]
    m = draw(spaces)
    dots = {d.id: d for d in m.dots}
    assert set(dots) == {"kobe", "sapporo", "naha"} and m.elsewhere == ("Paris",)
    assert dots["sapporo"].x > dots["kobe"].x > dots["naha"].x
    assert dots["sapporo"].y < dots["kobe"].y < dots["naha"].y
    assert all(0 < d.x < m.width and 0 < d.y < m.height for d in m.dots)
    assert not dots["sapporo"].online and dots["kobe"].online
    _, path = outline()
    assert path.count("M") >= 4 and len(path) < 20_000  # the four main islands at least, and small
