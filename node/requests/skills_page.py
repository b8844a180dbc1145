"""The dashboard's skills page: each member's skills, which of them the member shares, their
availability and region (what matching reads), and the operator's synonym list."""

from __future__ import annotations

from typing import Final

import msgspec
from aiohttp import web

from node.context import Context
from node.errors import HitodeError
from node.members import rules as members
from node.members import skills
from node.requests import book
from node.store import Tx
from node.web.i18n import N_
from node.web.page import Page, PageResult
from node.web.payload import clean
from node.web.shell import translator
from schemas.member import MemberPatch
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
        target = str(form.get("member", ""))
        try:
            if target:
                own = _split(str(form.get("skills", "")))
                shared = [s for s in (str(v) for v in form.getall("share", [])) if s in own]
                patch = msgspec.convert(clean({"skills": own, "shared_skills": shared,
                                               "availability": str(form.get("availability", "available")),
                                               "region": str(form.get("region", ""))}), MemberPatch)
                await members.patch(node.store, target, patch)
            else:
                groups = [_split(line) for line in str(form.get("synonyms", "")).splitlines() if _split(line)]
                inp = msgspec.convert({"groups": groups}, SynonymsInput)

                def unit(tx: Tx) -> None:
                    book.reindex_skills(tx, skills.replace(tx, inp.groups))

                await node.store.transact(unit)
        except (msgspec.ValidationError, HitodeError):
            errors[target or "synonyms"] = t.gettext("Nothing was saved. Please correct the fields marked below.")
        else:
            raise web.HTTPSeeOther("/skills?saved=1")
    synonyms = await skills.load(node.store)
    return {"members": await members.listing(node.store), "availability": AVAILABILITY, "errors": errors,
            "synonyms": "\n".join(", ".join(g) for g in synonyms.groups()), "saved": "saved" in request.query}


PAGES: Final[tuple[Page, ...]] = (
    Page(path="/skills", handler=skills_page, template="requests/skills.html", nav=N_("Skills"), order=6),
    Page(path="/skills", handler=skills_page, template="requests/skills.html", method="POST"),
)


