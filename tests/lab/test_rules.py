"""The LAB's rules on their own, without a bus or a store: what a post, a reply, an edit
and a retraction may be, and what a node refuses in a record from a peer."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from node.errors import BadInput, Conflict, Invalid
from node.federation.intake import Rejection
from node.lab import labels, rules
from node.lab.forms import parse_numbers
from schemas.envelope import Header
from schemas.lab import Label, LabelInput, PostEdit, PostInput, ReportInput, ThemeEdit, ThemeInput

NOW = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)


def _header(kind: str, author: str, record_id: str) -> Header:
    return Header(id="x", author=author, channel="pub", seq=1, prev=b"", kind=kind, record_id=record_id,
                  version=1, created_at=NOW)


def test_a_reply_goes_one_level_deep_and_never_to_a_retracted_post() -> None:
    theme = rules.open_theme("hakodate", ThemeInput(title="学生料金"), "t1", NOW)
    post = rules.write_post("kobe", theme, PostInput(body="学生割"), "p1", NOW)
    reply = rules.write_post("sapporo", theme, PostInput(body="告知は?", reply_to="p1"), "p2", NOW, parent=post)
    assert (reply.reply_to, reply.theme, reply.space) == ("p1", "t1", "sapporo")
    with pytest.raises(Invalid, match="one level deep") as e:
        rules.write_post("kobe", theme, PostInput(body="孫", reply_to="p2"), "p3", NOW, parent=reply)
    assert e.value.field == "reply_to"
    gone = rules.retract(post, LATER)
    with pytest.raises(Invalid, match="retracted"):
        rules.write_post("kobe", theme, PostInput(body="まだ?", reply_to="p1"), "p4", NOW, parent=gone)
    with pytest.raises(Invalid, match="no post"):
        rules.write_post("kobe", theme, PostInput(body="?", reply_to="p9"), "p5", NOW, parent=None)


def test_a_retraction_keeps_no_text_and_ends_the_record() -> None:
    theme = rules.open_theme("hakodate", ThemeInput(title="空き店舗", question="何ができる?", tags=["町"]), "t1", NOW)
    report = rules.write_report("sapporo", theme, ReportInput(title="出張コワーキング", tried="週末に開いた",
                                                             links=["https://example.jp/a"]), "r1", NOW)
    gone = rules.retract(report, LATER)
    assert (gone.status, gone.title, gone.tried, gone.links, gone.numbers, gone.theme) == ("retracted", "", "", [], [], "t1")
    assert gone.updated_at == LATER and gone.created_at == NOW
    with pytest.raises(Conflict):
        rules.retract(gone, LATER)
    with pytest.raises(Conflict):
        rules.patch(gone, ThemeEdit(title="復活"), LATER)
    closed = rules.patch(theme, ThemeEdit(status="closed"), LATER)
    assert rules.patch(closed, ThemeEdit(status="closed"), LATER + dt.timedelta(hours=1)) is closed  # no change
    with pytest.raises(Conflict, match="closed"):
        rules.write_post("kobe", closed, PostInput(body="遅れて"), "p1", NOW)
    assert rules.write_report("kobe", closed, ReportInput(title="報告", tried="試した"), "r2", NOW).theme == "t1"
    with pytest.raises(Conflict, match="retracted"):
        rules.write_report("kobe", rules.retract(theme, LATER), ReportInput(title="報告", tried="試した"), "r3", NOW)


def test_a_peers_record_is_its_authors_under_its_own_id_with_its_text() -> None:
    theme = rules.open_theme("hakodate", ThemeInput(title="学生料金"), "t1", NOW)
    post = rules.write_post("kobe", theme, PostInput(body="学生割"), "p1", NOW)
    rules.check_record(_header("lab_post", "kobe", "p1"), post, b"")
    with pytest.raises(Rejection, match="its author"):
        rules.check_record(_header("lab_post", "sapporo", "p1"), post, b"")
    with pytest.raises(Rejection, match="its own id"):
        rules.check_record(_header("lab_post", "kobe", "p2"), post, b"")
    with pytest.raises(BadInput, match="blank"):
        rules.check_record(_header("lab_post", "kobe", "p1"), rules.patch(post, PostEdit(body=" "), LATER), b"")
    half = msgspec.structs.replace(post, status="retracted")  # retracted, but its words still there
    with pytest.raises(BadInput, match="no text"):
        rules.check_record(_header("lab_post", "kobe", "p1"), half, b"")
    rules.check_record(_header("lab_post", "kobe", "p1"), rules.retract(post, LATER), b"")


def test_a_label_is_its_spaces_under_subject_and_label() -> None:
    lab = labels.make("sapporo", LabelInput(subject="p1", label="hide"), NOW)
    labels.check_record(_header("lab_label", "sapporo", "p1:hide"), lab, b"")
    with pytest.raises(Rejection):
        labels.check_record(_header("lab_label", "sapporo", "p1:pin"), lab, b"")
    with pytest.raises(Rejection):
        labels.check_record(_header("lab_label", "kobe", "p1:hide"), lab, b"")
    assert isinstance(lab, Label) and not lab.undone


def test_a_views_own_word_wins_over_a_followed_spaces() -> None:
    view = labels.View("hakodate", {"p1": {"hide": "sapporo", "approve": "hakodate"}, "p2": {"hide": "sapporo"},
                                    "p3": {"pin": "kobe"}})
    assert (view.hidden("p1"), view.hidden("p2"), view.hidden("p3"), view.pinned("p3")) == (False, True, False, True)


def test_numbers_are_read_one_a_line_as_name_value_unit() -> None:
    assert parse_numbers("学生の来館 = 42 人\n\n稼働率 = 61.5 %\n売上 = 1,200 円") == [
        {"name": "学生の来館", "value": 42.0, "unit": "人"}, {"name": "稼働率", "value": 61.5, "unit": "%"},
        {"name": "売上", "value": 1200.0, "unit": "円"}]
    for bad in ("来館 42", "= 3 人", "来館 = たくさん", "来館 = nan"):
        with pytest.raises(Invalid):
            parse_numbers(bad)
