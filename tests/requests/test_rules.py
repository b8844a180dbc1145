"""The rules of a request, without a bus: what may be posted, accepted, closed, and how members rank."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from node.errors import Conflict, Invalid
from node.members.skills import SEED, Synonyms, key
from node.requests import rules
from node.requests.matching import score
from schemas.request import CloseInput, HelpRequest, RequestInput

NOW = dt.datetime(2027, 4, 1, 9, 0, tzinfo=dt.UTC)
TOKYO = dt.timezone(dt.timedelta(hours=9))


def _posted(**over: Any) -> HelpRequest:
    inp = RequestInput(title="ウェブサイト制作", deadline=over.pop("deadline", NOW + dt.timedelta(days=7)), **over)
    return rules.create("kobe", inp, "r1", tz=TOKYO, now=NOW)


def test_a_deadline_without_an_offset_is_read_in_the_space_s_zone_and_must_be_ahead() -> None:
    req = _posted(deadline=dt.datetime(2027, 4, 1, 19, 0))
    assert req.deadline == dt.datetime(2027, 4, 1, 10, 0, tzinfo=dt.UTC) and req.status == "open"
    with pytest.raises(Invalid) as e:
        _posted(deadline=dt.datetime(2027, 4, 1, 17, 0))  # 08:00 UTC: an hour ago
    assert e.value.field == "deadline"
    with pytest.raises(Invalid):
        _posted(deadline=NOW + dt.timedelta(days=3 * 366))


def test_accepting_marks_it_matched_closing_ends_it_and_nothing_follows_a_close() -> None:
    req = _posted()
    with pytest.raises(Invalid) as e:
        rules.accept(req, ["o9"], {"o1"}, NOW)
    assert e.value.field == "offers"
    matched = rules.accept(req, ["o1"], {"o1", "o2"}, NOW)
    assert (matched.status, matched.accepted) == ("matched", ["o1"])
    assert rules.accept(matched, ["o1", "o2"], {"o1", "o2"}, NOW).accepted == ["o1", "o2"]
    closed = rules.close(matched, CloseInput(), {"o1"}, NOW)
    assert closed.status == "closed" and not rules.takes_offers(closed, NOW)
    with pytest.raises(Conflict):
        rules.close(closed, CloseInput(status="withdrawn"), set(), NOW)
    with pytest.raises(Conflict):
        rules.accept(closed, ["o1"], {"o1"}, NOW)


def test_a_request_expires_only_once_its_deadline_has_passed_and_only_if_still_open() -> None:
    req = _posted()
    assert rules.expire(req, NOW) is None
    later = NOW + dt.timedelta(days=8)
    assert not rules.takes_offers(req, later)
    expired = rules.expire(req, later)
    assert expired is not None and expired.status == "expired"
    assert rules.expire(rules.close(req, CloseInput(), set(), NOW), later) is None


def test_skills_meet_across_width_case_spaces_and_the_seeded_synonyms() -> None:
    table = {key(t): key(group[0]) for group in reversed(SEED) for t in group}
    syn = Synonyms(table)
    assert {syn.fold(s) for s in ("web制作", "Web 制作", "ｳｪﾌﾞ制作", "ウェブ制作", "web development", "ホームページ制作")} == {
        "webdevelopment"}
    assert syn.fold("会計") == syn.fold("Accounting") == syn.fold("経理")
    assert syn.fold("映像編集") == syn.fold("Video")
    assert syn.fold("似顔絵") == "似顔絵"  # no group: itself


def test_members_rank_by_overlap_then_region_then_availability_and_away_or_far_ones_drop_out() -> None:
    full = score(2, 2, same_region=False, online_ok=True, availability="available")
    near = score(1, 2, same_region=True, online_ok=True, availability="available")
    busy = score(1, 2, same_region=False, online_ok=True, availability="busy")
    assert full is not None and near is not None and busy is not None and full > near > busy
    assert score(1, 1, same_region=False, online_ok=False, availability="available") is None
    assert score(1, 1, same_region=True, online_ok=False, availability="available") is not None
    assert score(1, 1, same_region=True, online_ok=True, availability="away") is None
    assert score(0, 1, same_region=True, online_ok=True, availability="available") is None
