"""The dashboard's page on what this node refused and what it warns about, in plain words
for an operator who is not an engineer: what was refused, from whom, why, and what to do.

It reads the kernel's quarantine and alert tables (node/federation/quarantine.py), the same
rows /api/quarantine and /api/alerts give, and turns each reason code into two sentences
from the catalogue. The technical detail stays one click away, for whoever helps.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from aiohttp import web

from node.context import Context
from node.federation.quarantine import REFUSED
from node.web.i18n import N_, Translator
from node.web.page import Page, PageResult
from node.web.shell import translator

__all__ = ["PAGES", "EXPLAINED"]

_DAMAGED: Final = (N_("It was not a well-formed record of this federation: damaged on the way, or made by other "
                      "software or by another version of hitode."),
                   N_("Nothing, unless it keeps coming from the same space: then ask its operator to update their node."))
_FORGED: Final = (N_("Its signature did not match: it was not really sent by the space it names, or that space "
                     "changed its keys."),
                  N_("If it names a space you know, ask its operator directly (by phone or e-mail) whether they "
                     "changed their keys. Otherwise nothing: it was refused and changed nothing here."))
_TWICE: Final = (N_("That space sent two different records under the same number. This happens when a node is "
                    "restored from an old backup, or when someone else holds its key."),
                 N_("Contact that space's operator directly (by phone or e-mail) and tell them. Until it is cleared "
                    "up, this node keeps the first record it received."))

# reason code (quarantine) or alert kind → (what happened, what to do)
EXPLAINED: Final[dict[str, tuple[str, str]]] = {
    **dict.fromkeys(("not_envelope", "bad_header", "bad_domain", "bad_body", "bad_text", "header_mismatch",
                     "subject_mismatch", "bad_chain", "bad_prev", "unasked"), _DAMAGED),
    **dict.fromkeys(("bad_signature", "key_mismatch"), _FORGED),
    "equivocation": _TWICE,
    "oversized": (N_("It was larger than the federation allows."),
                  N_("Nothing. If it keeps happening, tell that space's operator: their node may need an update.")),
    "unknown_kind": (N_("It is a kind of record this node does not know: the other space probably runs a newer "
                        "version of hitode."),
                     N_("Update this node when you can.")),
    "misaddressed": (N_("A private record meant for another space reached this node."),
                     N_("Nothing: it is sealed for the other space and was not opened here.")),
    "clock_skew": (N_("It was dated in the future: the sender's clock is wrong, or this server's."),
                   N_("Check that this server's clock is right. If it is, ask the other space's operator to check theirs.")),
    "id_taken": (N_("It used an ID that already belongs to a record of another space."),
                 N_("Nothing, it was refused. If it repeats, tell that space's operator.")),
    "stale_version": (N_("It was an older copy of something this node already holds in a newer version."),
                      N_("Nothing. This is normal after a space was offline for a while.")),
    "pin_conflict": (N_("This node's settings name a different key for that space than the one it first used."),
                     N_("Check the [pins] in this node's config.toml with that space's operator.")),
}
_UNKNOWN: Final = (N_("This node could not handle it."),
                   N_("Look at the node's log, or ask whoever set up your node."))


def _explain(code: str, t: Translator) -> tuple[str, str]:
    what, todo = EXPLAINED.get(code, _UNKNOWN)
    return t.gettext(what), t.gettext(todo)


def _who(space: str, names: dict[str, str], t: Translator) -> str:
    if not space:
        return t.gettext("an unknown sender")
    return f"{names[space]} ({space})" if space in names else space


async def refused(node: Context, request: web.Request) -> PageResult:
    t = translator(request)
    names = {s["id"]: (s.get("name_ja") or s["name"]) if t.lang == "ja" else s["name"]
             for s in await node.directory.spaces()}

    def when(at: float) -> tuple[str, str]:
        moment = dt.datetime.fromtimestamp(at, dt.UTC)
        return t.datetime(moment, "short"), moment.isoformat()

    alerts: list[dict[str, Any]] = []
    for r in await node.store.all("SELECT id, at, kind, space, message, seen FROM alerts ORDER BY at DESC LIMIT 100"):
        what, todo = _explain(r["kind"], t)
        alerts.append({"id": r["id"], "when": when(r["at"]), "who": _who(r["space"], names, t), "what": what,
                       "todo": todo, "detail": f"{r['kind']}: {r['message']}", "subject": "", "seen": r["seen"]})
    records: list[dict[str, Any]] = []
    for r in await node.store.all("SELECT id, at, author, subject, reason, seen FROM quarantine ORDER BY at DESC LIMIT 100"):
        what, todo = _explain(r["reason"].split(":", 1)[0], t)
        records.append({"id": r["id"], "when": when(r["at"]), "who": _who(r["author"], names, t), "what": what,
                        "todo": todo, "detail": r["reason"], "subject": r["subject"], "seen": r["seen"]})
    return {"alerts": alerts, "records": records}


PAGES: Final = (Page(path="/alerts", handler=refused, template="ops/refused.html", nav=N_("Alerts"), order=60,
                     live=(("refused-live", "ops/refused_live.html"),), wakes=(REFUSED,)),)
