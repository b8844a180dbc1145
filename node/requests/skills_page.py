"""The dashboard's skills page: the skills of this space's members at a glance (which are
shared, who is available; each edited on the member's own page), and the operator's
synonym list, which decides which spellings are one skill."""

from __future__ import annotations

from typing import Final

import msgspec
from aiohttp import web

from node.context import Context
from node.members import rules as members
from node.members import skills
from node.requests import book
from node.store import Tx
from node.web.i18n import N_
from node.web.page import Page, PageResult
from node.web.shell import translator
from schemas.request import SynonymsInput

__all__ = ["PAGES"]

AVAILABILITY: Final = {"available": N_("Available"), "busy": N_("Busy"), "away": N_("Away")}


def _split(text: str) -> list[str]:
    return [s.strip() for s in text.replace("、", ",").split(",") if s.strip()]


async def skills_page(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.post()
        groups = [_split(line) for line in str(form.get("synonyms", "")).splitlines() if _split(line)]
        try:
            inp = msgspec.convert({"groups": groups}, SynonymsInput)

            def unit(tx: Tx) -> None:
                book.reindex_skills(tx, skills.replace(tx, inp.groups))

            await node.store.transact(unit)
        except msgspec.ValidationError:
            errors["synonyms"] = t.gettext("Up to 500 lines of up to 50 names, each at most 60 characters.")
        else:
            raise web.HTTPSeeOther("/skills?saved=1")
    synonyms = await skills.load(node.store)
    typed = str((await request.post()).get("synonyms", "")) if errors else ""
    return {"members": await members.listing(node.store), "availability": AVAILABILITY, "errors": errors,
            "synonyms": typed or "\n".join(", ".join(g) for g in synonyms.groups()), "saved": "saved" in request.query}


PAGES: Final[tuple[Page, ...]] = (
    Page(path="/skills", handler=skills_page, template="requests/skills.html", nav=N_("Skills"), order=6),
    Page(path="/skills", handler=skills_page, template="requests/skills.html", method="POST"),
)


