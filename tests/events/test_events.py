"""Federated events: one calendar across spaces, joint events, RSVPs from any space."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

import icalendar

from node.bus.cluster import NatsCluster
from tests.eventually import eventually
from tests.spaces import HttpError, Space, converged, spaces_for

NAMES = ["kobe", "sapporo", "hakodate"]
SOON = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)


def jelly(**over: Any) -> dict[str, Any]:
    start = SOON.replace(hour=9, minute=0, second=0, microsecond=0)
    base = {
        "title": "Jelly 神戸", "description": "みんなで作業", "tz": "Asia/Tokyo",
        "start": start.isoformat(), "end": (start + dt.timedelta(hours=3)).isoformat(),
        "place": {"mode": "onsite", "room": "2F lounge"}, "capacity": 10, "tags": ["jelly"],
    }
    return {**base, **over}


async def _event(space: Space, event_id: str) -> dict[str, Any] | None:
    try:
        return dict(await space.get(f"/api/events/{event_id}"))
    except HttpError:
        return None


async def _has(space: Space, event_id: str, **want: Any) -> bool:
    e = await _event(space, event_id)
    return e is not None and all(e.get(k) == v for k, v in want.items())


async def _ics(space: Space) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(await space.get("/calendar.ics", auth=False))


async def test_event_created_edited_and_cancelled_at_kobe_shows_everywhere(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe's event is listed at sapporo and hakodate; an edit and a cancel propagate; every .ics holds it."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo, hakodate = spaces
        e = await kobe.post("/api/events", jelly())
        for s in (sapporo, hakodate):
            await eventually(lambda s=s: _has(s, e["id"], title="Jelly 神戸"))
            listed = await s.get("/api/events?space=kobe&tag=jelly", auth=False)
            assert [x["id"] for x in listed["events"]] == [e["id"]]
        await kobe.request("PATCH", f"/api/events/{e['id']}", {"title": "Jelly 神戸 (2F)"})
        await eventually(lambda: _has(hakodate, e["id"], title="Jelly 神戸 (2F)", status="updated"))
        for s in spaces:
            cal = await _ics(s)
            (vevent,) = [c for c in cal.walk("VEVENT") if str(c["UID"]).startswith(e["id"])]
            assert str(vevent["SUMMARY"]) == "Jelly 神戸 (2F)" and str(vevent["STATUS"]) == "CONFIRMED"
            assert vevent.decoded("DTSTART") == dt.datetime.fromisoformat(e["start"])
        await kobe.post(f"/api/events/{e['id']}/cancel", {})
        await eventually(lambda: _has(sapporo, e["id"], status="cancelled"))
        await converged(spaces)
        cal = await _ics(sapporo)
        (vevent,) = [c for c in cal.walk("VEVENT") if str(c["UID"]).startswith(e["id"])]
        assert str(vevent["STATUS"]) == "CANCELLED"
        single = icalendar.Calendar.from_ical(await sapporo.get(f"/api/events/{e['id']}.ics", auth=False))
        assert len(list(single.walk("VEVENT"))) == 1


async def test_joint_event_with_parts_from_three_spaces_is_shown_as_one(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe opens a joint Jelly; sapporo and hakodate join with their parts; every node lists one entry of three parts."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo, hakodate = spaces
        lead = await kobe.post("/api/events", jelly(capacity=5, joint=True))
        jid = lead["id"]
        assert lead["joint_id"] == jid
        await kobe.request("PATCH", f"/api/events/{jid}", {})  # a no-op edit is allowed
        await sapporo.post("/api/events", jelly(title="Jelly 札幌", joint_id=jid, capacity=8))
        await hakodate.post("/api/events", jelly(title="Jelly 函館", joint_id=jid, capacity=3))

        async def three_parts(s: Space) -> bool:
            listed = await s.get(f"/api/events?joint={jid}", auth=False)
            return len(listed["events"]) == 1 and len(listed["events"][0]["parts"]) == 3

        for s in spaces:
            await eventually(lambda s=s: three_parts(s))
        entry = (await sapporo.get(f"/api/events?joint={jid}", auth=False))["events"][0]
        assert entry["joint"] is True and entry["id"] == jid
        assert sorted(p["space"] for p in entry["parts"]) == sorted(NAMES)
        assert sorted(p["capacity"] for p in entry["parts"]) == [3, 5, 8]
        cal = await _ics(hakodate)
        joint = [c for c in cal.walk("VEVENT") if str(c["UID"]).startswith(jid)]
        assert len(joint) == 1
        for part in entry["parts"]:  # each part's own .ics is that same one entry
            one = icalendar.Calendar.from_ical(await hakodate.get(f"/api/events/{part['id']}.ics", auth=False))
            assert [str(c["UID"]) for c in one.walk("VEVENT")] == [str(joint[0]["UID"])]


async def _member(space: Space, name: str, share: bool = True) -> str:
    return str((await space.post("/api/members", {"name": name, "share_name": share}))["id"])


async def _status(space: Space, event_id: str, member: str) -> str | None:
    e = await _event(space, event_id)
    for r in (e or {}).get("rsvps", []):
        if r["member"] == member:
            return str(r["status"])
    return None


async def test_capacity_two_three_rsvps_one_cancels_waitlisted_is_confirmed(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Capacity 2, three RSVPs from two other spaces: two confirmed, one waitlisted; one cancels; the waitlisted is confirmed."""
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo, hakodate = spaces
        e = await kobe.post("/api/events", jelly(capacity=2))
        await eventually(lambda: _event(sapporo, e["id"]))
        await eventually(lambda: _event(hakodate, e["id"]))
        await eventually(lambda: sapporo.space_version("kobe"))
        await eventually(lambda: hakodate.space_version("kobe"))
        aiko = await _member(sapporo, "Aiko")
        await sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": aiko})
        await eventually(lambda: _is(_status(sapporo, e["id"], aiko), "confirmed"))
        ben = await _member(hakodate, "Ben", share=False)
        await hakodate.post(f"/api/events/{e['id']}/rsvps", {"member": ben})
        await eventually(lambda: _is(_status(hakodate, e["id"], ben), "confirmed"))
        chie = await _member(sapporo, "Chie")
        await sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": chie})
        await eventually(lambda: _is(_status(sapporo, e["id"], chie), "waitlisted"))

        host_view = await kobe.get(f"/api/events/{e['id']}")
        names = sorted(a["display_name"] for a in host_view["attendees"])
        assert names == ["", "Aiko", "Chie"]  # Ben did not agree to share his name
        await eventually(lambda: _has(hakodate, e["id"], confirmed=2, waitlisted=1))

        await sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": aiko, "cancel": True})
        await eventually(lambda: _is(_status(sapporo, e["id"], chie), "confirmed"))
        assert await _status(sapporo, e["id"], aiko) == "cancelled"
        await eventually(lambda: _has(hakodate, e["id"], confirmed=2, waitlisted=0))
        await converged(spaces)


async def _is(value: Any, want: Any) -> bool:
    return bool((await value) == want)


async def test_rsvp_sent_while_the_host_is_down_is_confirmed_when_it_returns_and_counts_once(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe's node is down when sapporo signs Aiko up; kobe decides on return; the RSVP delivered twice counts once."""
    import nats

    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo, hakodate = spaces
        e = await kobe.post("/api/events", jelly(capacity=3))
        await eventually(lambda: _event(sapporo, e["id"]))
        await eventually(lambda: sapporo.space_version("kobe"))
        await kobe.kill()
        aiko = await _member(sapporo, "Aiko")
        sent = await sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": aiko})
        assert sent["status"] == "requested"
        again = await sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": aiko})
        assert again["rsvp_id"] == sent["rsvp_id"]  # the same member signing up twice is one RSVP
        await eventually(lambda: _health_zero(sapporo))

        nc = await nats.connect(nats_cluster["sapporo"].client_url)
        try:
            js = nc.jetstream()
            raw = (await js.get_last_msg("HITODE", "hitode.dm.kobe.rsvp.sapporo")).data
            await js.publish("hitode.dm.kobe.rsvp.sapporo", raw, headers={"Nats-Msg-Id": "replayed-rsvp"})
        finally:
            await nc.close()

        await kobe.start()
        await eventually(lambda: _is(_status(sapporo, e["id"], aiko), "confirmed"), timeout=30)
        host = await kobe.get(f"/api/events/{e['id']}")
        assert [a["display_name"] for a in host["attendees"]] == ["Aiko"]
        assert host["confirmed"] == 1
        await eventually(lambda: _has(hakodate, e["id"], confirmed=1))


async def test_cancel_and_sign_up_again_while_the_host_is_down_shows_requested_not_the_old_seat(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Aiko (sapporo) holds the one seat, Ben (hakodate) waits; with kobe down Aiko cancels and signs up again.

    Sapporo must not show her old seat as hers: kobe has not decided yet. When kobe is back
    the cancel seats Ben and the new sign-up goes to the waitlist.
    """
    async with spaces_for(tmp_path, NAMES, lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo, hakodate = spaces
        e = await kobe.post("/api/events", jelly(capacity=1))
        for s in (sapporo, hakodate):
            await eventually(lambda s=s: _event(s, e["id"]))
            await eventually(lambda s=s: s.space_version("kobe"))
        aiko, ben = await _member(sapporo, "Aiko"), await _member(hakodate, "Ben")
        await sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": aiko})
        await eventually(lambda: _is(_status(sapporo, e["id"], aiko), "confirmed"))
        await hakodate.post(f"/api/events/{e['id']}/rsvps", {"member": ben})
        await eventually(lambda: _is(_status(hakodate, e["id"], ben), "waitlisted"))

        await kobe.kill()
        await sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": aiko, "cancel": True})
        assert await _status(sapporo, e["id"], aiko) == "cancelled"
        again = await sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": aiko})
        assert again["status"] == "requested"
        assert await _status(sapporo, e["id"], aiko) == "requested"

        await kobe.start()
        await eventually(lambda: _is(_status(hakodate, e["id"], ben), "confirmed"), timeout=30)
        await eventually(lambda: _is(_status(sapporo, e["id"], aiko), "waitlisted"), timeout=30)
        host = await kobe.get(f"/api/events/{e['id']}")
        assert [(a["display_name"], a["status"]) for a in host["attendees"]] == [("Ben", "confirmed"), ("Aiko", "waitlisted")]


async def _health_zero(space: Space) -> bool:
    return bool((await space.get("/healthz"))["outbox_backlog"] == 0)


async def test_bad_event_input_is_refused_naming_the_field_and_changes_nothing(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """End before start, unknown zone, capacity below attendees, RSVP to a cancelled or past event, another space's event."""
    async with spaces_for(tmp_path, NAMES[:2], lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo = spaces

        async def refused(call: Any, status: int, field: str) -> None:
            try:
                await call
            except HttpError as err:
                assert err.status == status, err.body
                assert err.body["error"]["field"] == field, err.body
            else:
                raise AssertionError(f"accepted; expected {status} on {field}")

        start = dt.datetime.fromisoformat(jelly()["start"])
        # well-formed but against a rule: 422; malformed: 400
        await refused(kobe.post("/api/events", jelly(end=(start - dt.timedelta(hours=1)).isoformat())), 422, "end")
        await refused(kobe.post("/api/events", jelly(tz="Asia/Nowhere")), 422, "tz")
        await refused(kobe.post("/api/events", jelly(capacity=-1)), 400, "capacity")
        await refused(kobe.post("/api/events", jelly(title="")), 400, "title")
        assert (await kobe.get("/api/events"))["total"] == 0

        e = await kobe.post("/api/events", jelly(capacity=2))
        local = await _member(kobe, "Daichi")
        await kobe.post(f"/api/events/{e['id']}/rsvps", {"member": local})
        other = await _member(kobe, "Emi")
        await kobe.post(f"/api/events/{e['id']}/rsvps", {"member": other})
        await refused(kobe.request("PATCH", f"/api/events/{e['id']}", {"capacity": 1}), 422, "capacity")
        assert (await kobe.get(f"/api/events/{e['id']}"))["capacity"] == 2

        await eventually(lambda: _event(sapporo, e["id"]))
        await refused(sapporo.request("PATCH", f"/api/events/{e['id']}", {"title": "mine now"}), 403, "id")
        await refused(sapporo.post(f"/api/events/{e['id']}/cancel", {}), 403, "id")
        member = await _member(sapporo, "Fumi")
        await refused(sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": "nobody"}), 404, "member")

        past = await kobe.post("/api/events", jelly(
            start=(dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).isoformat(),
            end=(dt.datetime.now(dt.UTC) - dt.timedelta(days=2, hours=-2)).isoformat()))
        await eventually(lambda: _event(sapporo, past["id"]))
        await refused(sapporo.post(f"/api/events/{past['id']}/rsvps", {"member": member}), 409, "event")
        await kobe.post(f"/api/events/{e['id']}/cancel", {})
        await eventually(lambda: _has(sapporo, e["id"], status="cancelled"))
        await refused(sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": member}), 409, "event")
        await refused(kobe.request("PATCH", f"/api/events/{e['id']}", {"title": "x"}), 409, "id")
        assert (await sapporo.get("/api/rsvps"))["rsvps"] == []


async def test_events_page_through_with_limit_and_offset(tmp_path: Path, nats_cluster: NatsCluster) -> None:
    """Five events, pages of two: 2, 2, 1, in time order, with next_offset to follow."""
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_cluster[n].client_url, replicas=3) as (kobe,):
        start = dt.datetime.fromisoformat(jelly()["start"])
        for i in range(5):
            s = start + dt.timedelta(days=i)
            await kobe.post("/api/events", jelly(title=f"Talk {i}", start=s.isoformat(),
                                                 end=(s + dt.timedelta(hours=1)).isoformat()))
        seen, offset = [], 0
        while offset is not None:
            page = await kobe.get(f"/api/events?limit=2&offset={offset}", auth=False)
            assert page["total"] == 5 and len(page["events"]) <= 2
            seen += [x["title"] for x in page["events"]]
            offset = page["next_offset"]
        assert seen == [f"Talk {i}" for i in range(5)]
        try:
            await kobe.get("/api/events?limit=0", auth=False)
        except HttpError as err:
            assert err.status == 400 and err.body["error"]["field"] == "limit"
        else:
            raise AssertionError("limit=0 accepted")


async def test_cancelling_an_event_cancels_its_rsvps_and_seats_no_one_after(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Kobe cancels an event with a confirmed and a waitlisted member from sapporo: both show cancelled, counts drop to zero."""
    async with spaces_for(tmp_path, NAMES[:2], lambda n: nats_cluster[n].client_url, replicas=3) as spaces:
        kobe, sapporo = spaces
        e = await kobe.post("/api/events", jelly(capacity=1))
        await eventually(lambda: _event(sapporo, e["id"]))
        await eventually(lambda: sapporo.space_version("kobe"))
        first, second = await _member(sapporo, "Gen"), await _member(sapporo, "Hana")
        await sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": first})
        await eventually(lambda: _is(_status(sapporo, e["id"], first), "confirmed"))
        await sapporo.post(f"/api/events/{e['id']}/rsvps", {"member": second})
        await eventually(lambda: _is(_status(sapporo, e["id"], second), "waitlisted"))

        await kobe.post(f"/api/events/{e['id']}/cancel", {})
        await eventually(lambda: _is(_status(sapporo, e["id"], first), "cancelled"))
        await eventually(lambda: _is(_status(sapporo, e["id"], second), "cancelled"))
        await eventually(lambda: _has(sapporo, e["id"], status="cancelled", confirmed=0, waitlisted=0))
        host = await kobe.get(f"/api/events/{e['id']}")
        assert {a["status"] for a in host["attendees"]} == {"cancelled"}


async def test_times_and_zones_out_of_bounds_are_refused(tmp_path: Path, nats_cluster: NatsCluster) -> None:
    """A start in the year 9999, a zone that is a directory, an unrepresentable time: each refused
    naming the field (422: well-formed, but against the rules for an event)."""
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_cluster[n].client_url, replicas=3) as (kobe,):
        cases = [
            (jelly(start="9999-12-31T10:00:00+09:00", end="9999-12-31T11:00:00+09:00"), "start"),
            (jelly(tz="Asia"), "tz"),
            (jelly(tz="posix/Asia/Tokyo"), "tz"),
            (jelly(start="0001-01-01T00:00:00", end="0001-01-01T01:00:00"), "start"),
        ]
        for body, field in cases:
            try:
                await kobe.post("/api/events", body)
            except HttpError as err:
                assert err.status == 422 and err.body["error"]["field"] == field, err.body
            else:
                raise AssertionError(f"accepted {body}")
        assert (await kobe.get("/api/events", auth=False))["total"] == 0
        assert "BEGIN:VCALENDAR" in await kobe.get("/calendar.ics", auth=False)


async def test_from_without_an_offset_is_read_in_the_space_s_own_zone(tmp_path: Path, nats_cluster: NatsCluster) -> None:
    """Kobe runs in Asia/Tokyo (the default), a partner abroad sets [space] tz: the same naive `from` means each one's local time."""
    berlin_dir = tmp_path / "berlin"
    async with spaces_for(tmp_path, ["kobe"], lambda n: nats_cluster[n].client_url, replicas=3) as (kobe,):
        berlin = Space(berlin_dir, "berlin", nats_cluster["sapporo"].client_url, replicas=3)
        cfg = berlin_dir / "config.toml"
        cfg.write_text(cfg.read_text().replace('tz = "Asia/Tokyo"', 'tz = "Europe/Berlin"'))
        await berlin.start()
        try:
            e = await kobe.post("/api/events", jelly())  # 09:00-12:00 in Tokyo
            await eventually(lambda: _event(berlin, e["id"]))
            end = dt.datetime.fromisoformat(e["end"])
            # A wall-clock time in Berlin just after the event ends: in Tokyo, that wall
            # clock is still before the event ended.
            after = end.astimezone(zoneinfo.ZoneInfo("Europe/Berlin")) + dt.timedelta(minutes=30)
            naive = after.replace(tzinfo=None).isoformat(timespec="seconds")
            assert (await berlin.get(f"/api/events?from={naive}", auth=False))["total"] == 0
            assert (await kobe.get(f"/api/events?from={naive}", auth=False))["total"] == 1
            offset = after.isoformat(timespec="seconds").replace("+", "%2B")
            assert (await kobe.get(f"/api/events?from={offset}", auth=False))["total"] == 0
        finally:
            await berlin.close()
