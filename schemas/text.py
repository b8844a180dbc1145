"""Text hygiene for every string a person wrote, on HTTP input and in records from peers.

One rule set, stated as patterns so that msgspec enforces it at every boundary and the
OpenAPI/AsyncAPI documents say it: no control characters (tab and newline only in long
text), no bidirectional overrides or invisible characters in names, titles and short
lines (they make one name look like another), names not blank, links only http(s).
NFC normalisation is done where text enters (node/web/payload.py) and required of peers'
records (node/federation/content.py): a pattern cannot say it.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

__all__ = [
    "NAME", "LINE", "LONG", "LONG_REQUIRED", "URL", "TAG", "LANG",
    "Name", "Line", "LongText", "Url", "Lang", "EXPLAIN", "explain",
]

_CONTROLS: Final = r"\x00-\x1f\x7f-\x9f"
_CONTROLS_BUT_TAB_NEWLINE: Final = r"\x00-\x08\x0b-\x1f\x7f-\x9f"
# LRM/RLM, ALM, the embeddings and overrides, the isolates; zero-width space, word joiner, BOM
_INVISIBLE: Final = r"\u200b\u200e\u200f\u061c\u202a-\u202e\u2060\u2066-\u2069\ufeff"

NAME: Final = rf"^(?=.*\S)[^{_CONTROLS}{_INVISIBLE}]*$"  # a name or title: one line, not blank
LINE: Final = rf"^[^{_CONTROLS}{_INVISIBLE}]*$"  # a short line, may be empty
LONG: Final = rf"^[^{_CONTROLS_BUT_TAB_NEWLINE}]*$"  # long text: paragraphs, tabs
LONG_REQUIRED: Final = rf"^(?=[\s\S]*\S)[^{_CONTROLS_BUT_TAB_NEWLINE}]*$"
URL: Final = rf"^(https?://[^\s{_CONTROLS}{_INVISIBLE}]+)?$"  # a web address, or nothing
TAG: Final = rf"^[^\s,{_CONTROLS}{_INVISIBLE}]+$"
LANG: Final = r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"  # a BCP 47 language tag: ja, en, zh-Hant

# What each pattern means, in words an operator reads (errors name the field and this).
EXPLAIN: Final[dict[str, str]] = {
    NAME: "must be one line of text, not blank, without control characters or direction overrides",
    LINE: "must be one line of text, without control characters or direction overrides",
    LONG: "must be text without control characters (tab and newline are fine)",
    LONG_REQUIRED: "must be text, not blank, without control characters (tab and newline are fine)",
    URL: "must be a web address starting with http:// or https://",
    TAG: "must be one word: no spaces, commas or control characters",
    LANG: "must be a language tag such as ja or en",
}


def explain(message: str) -> str:
    """msgspec's "Expected `str` matching regex '…'" in plain words, where the rule is ours."""
    for pattern, words in EXPLAIN.items():
        if repr(pattern) in message or pattern in message:
            return words
    return message


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=NAME,
                                   description="a name: one line, not blank, no control or bidi characters")]
Line = Annotated[str, msgspec.Meta(max_length=200, pattern=LINE, description="one line of text")]
LongText = Annotated[str, msgspec.Meta(max_length=4000, pattern=LONG, description="text: tab and newline allowed")]
Url = Annotated[str, msgspec.Meta(max_length=500, pattern=URL, description="an http(s) address, or empty")]
Lang = Annotated[str, msgspec.Meta(min_length=2, max_length=16, pattern=LANG, description="a language tag: ja, en")]
