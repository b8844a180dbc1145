"""The LAB's forms as a person fills them in: each field's label and its rule in words, the
error shown next to a refused field, and a report's form read into its HTTP input.

A report's numbers are typed one a line as `name = value unit` (学生の来館 = 42 人) and
its links one a line: easier to write in a textarea than a grid of inputs, and read here
into the same `ReportInput` the JSON API takes, so both are held to the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final

import msgspec

from node.errors import Invalid
from node.web.i18n import N_, Translator
from node.web.payload import clean
from schemas.lab import ReportInput

__all__ = ["FIELDS", "field_errors", "report_input", "parse_numbers"]

_REQUIRED: Final = N_("Required: not blank, at most 8000 characters, without control characters.")
_LINE: Final = N_("One line of at most 200 characters, without control characters.")
_LONG: Final = N_("Free text of at most 8000 characters, without control characters.")
FIELDS: Final[dict[str, tuple[str, str]]] = {
    "title": (N_("Heading"), N_("Required: one line of at most 200 characters, not only spaces, without control characters.")),
    "question": (N_("The question"), _LONG),
    "tags": (N_("Tags (separated by spaces)"), N_("Up to 20 words of at most 40 characters, without commas.")),
    "meeting": (N_("This month's online meeting"), N_("Choose an event of the calendar, or none.")),
    "body": (N_("Your post"), _REQUIRED),
    "member": (N_("Written by"), N_("Choose who writes: a member of this space, or the space itself.")),
    "reply_to": (N_("Reply to"), N_("That post can no longer be answered: it was retracted, or it is itself a reply.")),
    "tried": (N_("What we tried"), _REQUIRED),
    "where": (N_("Where we tried it"), _LINE),
    "when": (N_("When we tried it"), _LINE),
    "cost": (N_("What it cost"), _LINE),
    "happened": (N_("What happened"), _LONG),
    "numbers": (N_("Numbers (one a line: name = value unit)"),
                N_("Write each number on its own line as name = value unit, for example: visitors = 42 people.")),
    "again": (N_("What we would do again"), _LONG),
    "links": (N_("Links (one a line)"), N_("Each line must be a web address starting with http:// or https://.")),
    "space": (N_("Space"), N_("Choose a space of the federation.")),
}
_CLOSED: Final = N_("This theme is closed for discussion, or was retracted: no new posts.")


def field_errors(t: Translator, fields: Iterable[str], default: str, *, closed: bool = False) -> dict[str, str]:
    """The message to show next to each refused field (a field the form lacks goes to `default`)."""
    out: dict[str, str] = {}
    for name in fields:
        name = name.split(".")[0].split("[")[0]
        if name not in FIELDS:
            name = default
        label, rule = FIELDS[name]
        words = t.gettext(_CLOSED) if closed and name == default else t.gettext(rule)
        out[name] = t.gettext("%(field)s: %(rule)s") % {"field": t.gettext(label), "rule": words}
    return out


def parse_numbers(text: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, rest = line.partition("=")
        value, _, unit = rest.strip().partition(" ")
        try:
            number = float(value.replace(",", ""))
        except ValueError:
            raise Invalid(f"{line!r} is not name = value unit", field="numbers") from None
        if not sep or not name.strip() or not math.isfinite(number):
            raise Invalid(f"{line!r} is not name = value unit", field="numbers")
        out.append({"name": name.strip(), "value": number, "unit": unit.strip()})
    return out


def report_input(values: Mapping[str, str]) -> ReportInput:
    """The report form's fields as the API's input (raises msgspec's error or `Invalid`, naming the field)."""
    given: dict[str, object] = {k: values[k] for k in ("title", "tried", "where", "when", "cost", "happened", "again")}
    given["numbers"] = parse_numbers(values["numbers"])
    given["links"] = [line.strip() for line in values["links"].splitlines() if line.strip()]
    return msgspec.convert(clean(given), ReportInput)
