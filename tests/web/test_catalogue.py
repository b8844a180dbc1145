"""One catalogue for every word of the dashboard (issue 18): each message the templates and
the page modules use has its Japanese, and the catalogue holds nothing nobody uses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from node.web.i18n import LOCALE_DIR, Translator, catalogue

ROOT = Path(__file__).resolve().parents[2]


def _used() -> set[str]:
    methods = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = extract_from_dir(str(ROOT / "node"), method_map=methods, options_map=options, keywords=keywords)
    return {m if isinstance(m, str) else m[0] for _, _, m, _, _ in found}


def _held() -> dict[str, str]:
    with (LOCALE_DIR / "ja" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        cat = read_po(f, locale="ja")
    return {(m.id if isinstance(m.id, str) else m.id[0]): (m.string if isinstance(m.string, str) else m.string[0])
            for m in cat if m.id and not m.fuzzy}


def test_every_message_the_dashboard_uses_has_its_japanese() -> None:
    used, held = _used(), _held()
    assert len(used) > 40
    missing = sorted(m for m in used if not held.get(m))
    assert not missing, f"add to messages.po (see babel.cfg): {missing}"
    assert not sorted(held.keys() - used), "messages.po holds messages nothing uses"


def test_the_compiled_catalogue_is_the_po_and_dates_are_the_spaces_zone() -> None:
    """What runs is the .po compiled at start; a UTC instant is shown in Asia/Tokyo, per language."""
    assert catalogue("ja").gettext("Sign in") == "サインイン"
    ja, en = Translator("ja", "Asia/Tokyo"), Translator("en", "Asia/Tokyo")
    when = dt.datetime(2027, 1, 8, 4, 0, tzinfo=dt.UTC)
    assert ja.date(when) == "2027年1月8日金曜日" and ja.time(when) == "13:00"
    assert en.date(when) == "Friday, January 8, 2027" and en.gettext("Sign in") == "Sign in"
