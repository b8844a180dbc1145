"""The dashboard's languages: Japanese first, then English, from one gettext catalogue.

English is the catalogue's source language (the msgids); `locale/ja/LC_MESSAGES/messages.po`
holds the Japanese. The .po is compiled in memory when the node starts (Babel), so what runs
is always what the .po says. Each request gets its own `Translator`: the language chosen by
the `lang` cookie (the operator's switch, remembered), else by Accept-Language, else
Japanese; dates and times are shown in the space's time zone, formatted for the language.
"""

from __future__ import annotations

import datetime as dt
import gettext as _gettext
import io
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from aiohttp import web

if TYPE_CHECKING:  # Babel itself loads with the first page: an idle node need not hold it
    from babel import Locale

__all__ = ["LANGUAGES", "COOKIE", "Translator", "choose", "catalogue", "N_"]

LANGUAGES: Final = ("ja", "en")  # the first is the default
COOKIE: Final = "hitode_lang"
LOCALE_DIR: Final = Path(__file__).parent / "locale"


def N_(message: str) -> str:
    """Marks a message for the catalogue where it is translated later (per request)."""
    return message


@cache
def catalogue(lang: str) -> _gettext.NullTranslations:
    """The compiled catalogue of a language (English: the msgids themselves)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == LANGUAGES[1] or not po.exists():
        return NullTranslations()
    with po.open("rb") as f:
        cat = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, cat)
    buf.seek(0)
    return Translations(buf)


def choose(request: web.Request) -> str:
    """The cookie if it names a language we have; else the best of Accept-Language; else ja."""
    chosen = request.cookies.get(COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(request.headers.get("Accept-Language", "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        base = tag.strip().lower().split("-")[0]
        if base in LANGUAGES and q > 0:
            ranked.append((-q, i, base))
    return min(ranked)[2] if ranked else LANGUAGES[0]


class Translator:
    """One request's language: its messages, and dates in the space's zone."""

    def __init__(self, lang: str, tz: str) -> None:
        self.lang = lang
        from babel import Locale

        self.locale: Locale = Locale.parse(lang)
        self.zone = ZoneInfo(tz)
        self._t: _gettext.NullTranslations = catalogue(lang)

    def gettext(self, message: str) -> str:
        return self._t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._t.ngettext(singular, plural, n)

    def local(self, when: dt.datetime) -> dt.datetime:
        return when.astimezone(self.zone)

    def datetime(self, when: dt.datetime, fmt: str = "medium") -> str:
        from babel.dates import format_datetime

        return format_datetime(when, fmt, tzinfo=self.zone, locale=self.locale)

    def date(self, when: dt.datetime | dt.date, fmt: str = "full") -> str:
        day = self.local(when).date() if isinstance(when, dt.datetime) else when
        from babel.dates import format_date

        return format_date(day, fmt, locale=self.locale)

    def time(self, when: dt.datetime) -> str:
        from babel.dates import format_time

        return format_time(when, "short", tzinfo=self.zone, locale=self.locale)

    def skeleton(self, pattern: str, when: dt.date | dt.datetime) -> str:
        """A CLDR skeleton ("yMMMM", "Md") in the language's own order and words."""
        from babel.dates import format_skeleton

        return format_skeleton(pattern, when, locale=self.locale)
