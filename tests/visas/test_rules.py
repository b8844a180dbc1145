"""The visa rules as plain functions, without a bus: the host's policy on the home's word,
the status list's bits, and the settlement's months, CSV and chart."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zlib

import msgspec
import pytest

from node.visas import settlement, status
from node.visas.checkin import HomeUnreachable, NotInStanding, QuotaExceeded, decide
from schemas.space import SpaceProfile, VisaPolicy
from schemas.visa import VisaStanding, VisaStatus

ADMIT = VisaPolicy(free_days_per_month=2, when_home_unreachable="admit")
REFUSE = VisaPolicy(free_days_per_month=2, when_home_unreachable="refuse")


def test_a_member_in_standing_with_days_left_is_admitted_as_verified() -> None:
    assert decide(ADMIT, "kobe", VisaStanding(standing="active", days_used=1), own_days=0, new_day=True) is True


def test_the_last_free_day_is_given_and_the_next_is_refused() -> None:
    """Two free days: one used elsewhere, one here today; a third day is over the policy."""
    with pytest.raises(QuotaExceeded):
        decide(ADMIT, "kobe", VisaStanding(standing="active", days_used=2), own_days=1, new_day=True)


def test_coming_back_the_same_day_costs_no_new_day() -> None:
    assert decide(ADMIT, "kobe", VisaStanding(standing="active", days_used=2), own_days=1, new_day=False) is True


def test_a_revoked_or_unknown_pass_by_the_homes_word_is_refused() -> None:
    for standing in ("revoked", "expired", "unknown"):
        with pytest.raises(NotInStanding):
            decide(ADMIT, "kobe", VisaStanding(standing=standing, days_used=0), own_days=0, new_day=True)


def test_a_silent_home_means_admit_to_reconcile_or_refuse_by_the_policy() -> None:
    assert decide(ADMIT, "kobe", None, own_days=0, new_day=True) is False
    with pytest.raises(HomeUnreachable) as e:
        decide(REFUSE, "kobe", None, own_days=0, new_day=True)
    assert e.value.status == 503 and e.value.code == "home_unreachable"


def test_a_silent_home_does_not_lift_what_the_hosts_own_books_show() -> None:
    """The host knows its own days for sure: over its quota it refuses even unasked."""
    with pytest.raises(QuotaExceeded):
        decide(ADMIT, "kobe", None, own_days=2, new_day=True)


def _list(revoked: set[int], size: int) -> VisaStatus:
    return VisaStatus(space="kobe", size=size, bits=status.pack(revoked, size), updated_at=dt.datetime.now(dt.UTC))


def test_the_status_list_sets_one_bit_per_revoked_pass() -> None:
    lst = _list({0, 9, 1000}, 1001)
    assert [i for i in range(1001) if status.revoked(lst, i)] == [0, 9, 1000]
    assert status.unpack(lst.bits)[1] == 0b10  # index 9: bit 1 of byte 1, least significant first
    assert not status.revoked(lst, 5000)  # issued after this list: nothing known against it


def test_a_status_list_that_inflates_past_its_limit_is_refused() -> None:
    bomb = zlib.compress(b"\0" * 2_000_000)
    with pytest.raises(ValueError):
        status.unpack(bomb)


def test_months_run_back_across_the_new_year() -> None:
    assert settlement.months_back("2027-02", 4) == ["2026-11", "2026-12", "2027-01", "2027-02"]


def test_the_csv_has_a_header_and_one_row_per_partner() -> None:
    result = {"month": "2026-11", "partners": [
        {"space": "kobe", "visits_in": 2, "days_in": 1, "visits_out": 0, "days_out": 0, "unconfirmed": ["v1"],
         "flagged": []}]}
    rows = list(csv.DictReader(io.StringIO(settlement.to_csv(result))))
    assert rows == [{"month": "2026-11", "partner": "kobe", "visits_in": "2", "days_in": "1", "visits_out": "0",
                     "days_out": "0", "unconfirmed": "v1", "flagged": ""}]


def test_the_chart_escapes_what_it_shows() -> None:
    svg = settlement.chart([{"space": "kobe", "counts": {"2026-11": (3, 1)}}], ["2026-11"],
                           title="<in & out>", label_in="in", label_out="out")
    assert svg.startswith("<svg") and "&lt;in &amp; out&gt;" in svg and "<in & out>" not in svg
    assert "kobe 2026-11: in 3" in svg and "kobe 2026-11: out 1" in svg


def test_two_books_compared_show_what_only_one_side_holds_and_what_differs() -> None:
    mine = {"v1": 2, "v2": 1, "v3": 1}
    theirs = {"v1": 1, "v3": 1, "v4": 1}
    assert settlement.compare(mine, theirs) == {"reachable": True, "agreed": False, "only_here": ["v2"],
                                                "only_there": ["v4"], "other_version": ["v1"]}
    assert settlement.compare(mine, dict(mine))["agreed"] is True
    assert settlement.compare(mine, None)["reachable"] is False


def test_a_profile_from_before_the_visa_check_in_reads_with_the_new_policy_defaults() -> None:
    """An older peer's space record has no notice or unreachable rule: it still decodes."""
    old = {"type": "space", "id": "kobe", "name": "Kobe", "sign_key": b"k" * 32, "box_key": b"b" * 32,
           "visa_policy": {"accepts_visas": True, "accepts_from": [], "free_days_per_month": 3}}
    got = msgspec.msgpack.decode(msgspec.msgpack.encode(old), type=SpaceProfile)
    assert got.visa_policy == VisaPolicy(free_days_per_month=3, notice_hours=0, when_home_unreachable="admit")
