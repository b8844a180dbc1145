"""The HTTP contract holds against clients nobody here wrote (issue 17, DESIGN §7).

Real nodes over real HTTP: the OpenAPI document validates, schemathesis finds nothing,
GET → edit → PUT works with If-Match, text hygiene is enforced at the edge and on the bus,
calendar apps get 304 and may add their own parameters, and HTTP's own errors are JSON.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
import pytest_asyncio
from multidict import CIMultiDict
from openapi_spec_validator import validate

from node.bus.embedded import EmbeddedNats
from node.federation.identity import Identity
from schemas.event import Event
from tests.eventually import eventually
from tests.forge import forge, inject, prev_of, profile
from tests.spaces import Space, converged, spaces_for

HERE = Path(__file__).parent
BAD_NAMES = {
    "a control character": "Kobe\x07Coworking",
    "a right-to-left override": "Kobe\u202eCoworking",
    "only whitespace": "   ",
}


@pytest_asyncio.fixture
async def kobe(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Space]:
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_server.client_url) as (space,):
        yield space


async def _raw(space: Space, method: str, path: str, *, token: str | None = "ok", **kw: Any) -> tuple[int, CIMultiDict[str], Any]:
    headers = dict(kw.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {space.token if token == 'ok' else token}"
    async with aiohttp.ClientSession() as http, http.request(method, space.url + path, headers=headers, **kw) as r:
        body: Any = await r.json() if r.content_type == "application/json" else await r.read()
        return r.status, CIMultiDict(r.headers), body


@pytest.mark.timeout(600)  # every operation of every feature, fuzzed: minutes on a busy machine
async def test_the_openapi_document_validates_and_schemathesis_finds_nothing(kobe: Space, tmp_path: Path) -> None:
    """openapi-spec-validator accepts /openapi.json; schemathesis (all checks, examples,
    fuzzing and the stateful links) against the real node with the token reports no failure."""
    _, _, doc = await _raw(kobe, "GET", "/openapi.json", token=None)
    validate(doc)
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(HERE / "schemathesis.toml"),
        "run", f"{kobe.url}/openapi.json", "--checks", "all", "-H", f"Authorization: Bearer {kobe.token}",
        "--phases", "examples,fuzzing,stateful", "--max-examples", "20", "--workers", "2", "--seed", "17",
        # /api/feeds fetches the URLs it is given from the internet: tested in events/test_import.py
        "--exclude-path-regex", "^/api/feeds",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,  # its cache (.schemathesis/) stays out of the repository
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 570)
    assert proc.returncode == 0, out.decode()[-6000:]


async def test_get_edit_put_round_trip_with_if_match(kobe: Space) -> None:
    """The representation GET gives, edited, is what PUT takes; a stale If-Match gets 412 and
    changes nothing; a changed read-only field is refused by name."""
    status, headers, got = await _raw(kobe, "GET", "/api/spaces/kobe")
    assert status == 200 and headers["ETag"] == f'"v{got["version"]}"'
    edited = {**got, "hours": "平日 9:00-21:00", "house_rules": "冷蔵庫のものには名前を。"}
    status, headers, put = await _raw(kobe, "PUT", "/api/space", json=edited, headers={"If-Match": headers["ETag"]})
    assert status == 200, put
    assert put["hours"] == "平日 9:00-21:00" and put["version"] == got["version"] + 1
    stale = f'"v{got["version"]}"'
    status, _, err = await _raw(kobe, "PUT", "/api/space", json={**edited, "hours": "lost"}, headers={"If-Match": stale})
    assert status == 412 and err["error"]["code"] == "stale"
    assert (await kobe.get("/api/spaces/kobe"))["hours"] == "平日 9:00-21:00"
    for field, value in (("id", "osaka"), ("sign_key", "A" * 43 + "="), ("version", 1)):
        body = {k: v for k, v in put.items() if k != "version"} | {field: value}
        status, _, err = await _raw(kobe, "PUT", "/api/space", json=body)
        assert status == 409 and err["error"]["field"] == field, err
    status, headers, patched = await _raw(kobe, "PATCH", "/api/space", json={"city": "神戸市"},
                                          headers={"If-Match": f'"v{put["version"]}"'})
    assert status == 200 and patched["city"] == "神戸市" and patched["hours"] == "平日 9:00-21:00"


@pytest.mark.parametrize("what", sorted(BAD_NAMES))
async def test_a_bad_name_is_refused_at_the_edge_naming_the_field(kobe: Space, what: str) -> None:
    """A control character, a bidi override or a blank name: 400 naming `name`, nothing changed."""
    before = await kobe.get("/api/spaces/kobe")
    status, _, err = await _raw(kobe, "PATCH", "/api/space", json={"name": BAD_NAMES[what]})
    assert status == 400 and err["error"]["field"] == "name", err
    assert "control" in err["error"]["message"] or "blank" in err["error"]["message"]
    status, _, err = await _raw(kobe, "POST", "/api/events", json={
        "title": BAD_NAMES[what], "start": "2027-01-08T13:00:00+09:00", "end": "2027-01-08T17:00:00+09:00"})
    assert status == 400 and err["error"]["field"] == "title", err
    after = await kobe.get("/api/spaces/kobe")
    assert {**after, "online": None} == {**before, "online": None}  # `online` is the bus, live


async def test_text_enters_nfc_normalised_and_a_lone_surrogate_is_named(kobe: Space) -> None:
    """A decomposed が is stored composed; a lone surrogate is refused by field, not "truncated"."""
    status, _, got = await _raw(kobe, "PATCH", "/api/space", json={"city": "か\u3099ら"})
    assert status == 200 and got["city"] == "がら"
    status, _, err = await _raw(kobe, "PATCH", "/api/space", data=b'{"city": "\\ud800"}',
                                headers={"Content-Type": "application/json"})
    assert status == 400 and err["error"]["field"] == "city" and "surrogate" in err["error"]["message"]


async def test_a_peers_record_with_bad_text_is_quarantined_at_every_node(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    """Mallory's event titles with a control character, a bidi override, a blank title and a
    non-NFC title, forged on the bus: quarantined with the reason at kobe and at sapporo."""
    async with spaces_for(tmp_path, ["kobe", "sapporo"], lambda n: nats_server.client_url) as spaces:
        await converged(spaces)
        mallory = Identity.generate("mallory")
        nc = await nats.connect(nats_server.client_url)
        try:
            js = nc.jetstream()
            first = forge(mallory, body=profile(mallory))
            await inject(js, first.subject, first.raw)
            prev, seq = prev_of(first.raw), 2
            start = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
            for title in [*BAD_NAMES.values(), "か\u3099ら"]:
                ev = Event(id=f"m{seq}", space="mallory", title=title, start=start, end=start + dt.timedelta(hours=2))
                rec = forge(mallory, kind="event", seq=seq, prev=prev, record_id=f"m{seq}", body=ev)
                await inject(js, rec.subject, rec.raw)
                prev, seq = prev_of(rec.raw), seq + 1
        finally:
            await nc.close()

        async def reasons(space: Space) -> list[str]:
            rows = (await space.get("/api/quarantine"))["quarantine"]
            got = sorted(r["reason"] for r in rows if r["author"] == "mallory")
            return got if len(got) == 4 else []

        for space in spaces:
            got = await eventually(lambda space=space: reasons(space))
            assert sum("control characters" in r for r in got) == 3, got
            assert any(r.startswith("bad_text") and "NFC" in r for r in got), got
            assert (await space.get("/api/events"))["total"] == 0


async def test_calendar_answers_304_and_ignores_parameters_it_does_not_know(kobe: Space) -> None:
    """calendar.ics?utm_source=x is the calendar; asked again with its ETag, 304."""
    await kobe.post("/api/events", {"title": "Jelly", "start": "2027-01-08T13:00:00+09:00", "end": "2027-01-08T17:00:00+09:00"})
    status, headers, body = await _raw(kobe, "GET", "/calendar.ics?utm_source=newsletter&utm_medium=x", token=None)
    assert status == 200 and b"BEGIN:VCALENDAR" in body and b"Jelly" in body
    assert "Last-Modified" in headers and "max-age" in headers["Cache-Control"]
    status, again, body = await _raw(kobe, "GET", "/calendar.ics?utm_source=newsletter", token=None,
                                     headers={"If-None-Match": headers["ETag"]})
    assert status == 304 and again["ETag"] == headers["ETag"] and body == b""
    status, _, listing = await _raw(kobe, "GET", "/api/events?fbclid=abc", token=None)
    assert status == 200 and listing["total"] == 1


async def test_http_errors_are_json_and_say_what_is_allowed(kobe: Space) -> None:
    """405 with Allow, 404, 413 and 415 all answer {"error": …}; no CORS headers."""
    status, headers, err = await _raw(kobe, "DELETE", "/api/events")
    assert status == 405 and {m.strip() for m in headers["Allow"].split(",")} == {"GET", "POST"} and err["error"]["code"] == "method_not_allowed"
    status, _, err = await _raw(kobe, "GET", "/api/nothing-here")
    assert status == 404 and err["error"]["code"] == "not_found"
    status, _, err = await _raw(kobe, "POST", "/api/members", data=b"x" * 300_000, headers={"Content-Type": "application/json"})
    assert status == 413 and err["error"]["code"] == "too_large"
    status, _, err = await _raw(kobe, "POST", "/api/members", data=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415 and err["error"]["code"] == "unsupported_media_type"
    status, headers, _ = await _raw(kobe, "OPTIONS", "/api/events", headers={"Origin": "https://evil.example"})
    assert status == 405 and not any(h.lower().startswith("access-control") for h in headers)


async def test_every_private_path_without_or_with_a_wrong_token_is_401(kobe: Space) -> None:
    """Every operation that needs the token answers 401 with WWW-Authenticate, without one and with a wrong one."""
    _, _, doc = await _raw(kobe, "GET", "/openapi.json", token=None)
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if not op["security"]:
                continue
            url = path.replace("{id}", "x1")
            for token in (None, "not-the-token-at-all"):
                status, headers, err = await _raw(kobe, method.upper(), url, token=token, json={})
                assert status == 401, (method, path, status, err)
                assert headers["WWW-Authenticate"].startswith("Bearer") and err["error"]["code"] == "unauthorized"
            checked += 1
    assert checked >= 15
