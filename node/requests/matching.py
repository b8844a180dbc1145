"""Matching, local to this node: its own members against requests, through the skill indexes.

Member data never leaves the node for this (DESIGN §6). Both directions are index
lookups, not scans: a request's canonical skills find the members who have them in
`member_skills`; a member's skills find the open requests that want them in
`request_skills`. Each candidate is then scored on skill overlap, region (which counts
only where the request wants someone on site) and availability; away members are left out.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Final

from node.members import skills
from node.store import Store
from schemas.request import HelpRequest

__all__ = ["score", "matches", "requests_for", "match_counts"]

_AVAILABILITY: Final = {"available": 1.0, "busy": 0.3}


def score(overlap: int, wanted: int, *, same_region: bool, online_ok: bool, availability: str) -> float | None:
    """A member's fit to a request, or None when they cannot take it (away, or too far)."""
    if availability not in _AVAILABILITY or overlap == 0:
        return None
    if not online_ok and not same_region:
        return None
    return round(10.0 * overlap / max(wanted, 1) + (2.0 if same_region else 0.0) + _AVAILABILITY[availability], 3)


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


async def matches(store: Store, req: HelpRequest, synonyms: skills.Synonyms, limit: int = 50) -> list[dict[str, Any]]:
    """This node's members ranked against one request (best first), with the skills that fit."""
    wanted = synonyms.fold_all(req.skills)
    if not wanted:
        return []
    rows = await store.all(
        "SELECT m.id, m.name, m.share_name, m.skills, m.shared_skills, m.availability, m.region,"
        f" count(*) AS overlap FROM member_skills s JOIN members m ON m.id = s.member_id"
        f" WHERE s.skill IN ({_marks(len(wanted))}) GROUP BY m.id",
        wanted,
    )
    region = skills.key(req.region)
    out = []
    for r in rows:
        fit = score(int(r["overlap"]), len(wanted), same_region=bool(region) and skills.key(r["region"]) == region,
                    online_ok=req.online_ok, availability=r["availability"])
        if fit is None:
            continue
        own = json.loads(r["skills"])
        out.append({
            "member": r["id"], "name": r["name"], "score": fit,
            "skills": [s for s in own if synonyms.fold(s) in wanted],
            "shared_skills": json.loads(r["shared_skills"]), "availability": r["availability"],
            "region": r["region"], "share_name": bool(r["share_name"]),
        })
    out.sort(key=lambda m: (-m["score"], m["name"]))
    return out[:limit]


async def requests_for(store: Store, member_id: str, now: dt.datetime, limit: int = 50) -> list[dict[str, Any]]:
    """The open requests one member fits (a new or edited member against every open request)."""
    member = await store.one("SELECT availability, region FROM members WHERE id = ?", (member_id,))
    if member is None:
        return []
    rows = await store.all(
        "SELECT q.id, q.online_ok, q.region, count(*) AS overlap,"
        " (SELECT count(*) FROM request_skills w WHERE w.request_id = q.id) AS wanted"
        " FROM member_skills ms JOIN request_skills rs ON rs.skill = ms.skill"
        " JOIN request_rows q ON q.id = rs.request_id"
        " WHERE ms.member_id = ? AND q.status IN ('open', 'matched') AND q.deadline > ? GROUP BY q.id",
        (member_id, now.timestamp()),
    )
    region = skills.key(member["region"])
    out = []
    for r in rows:
        fit = score(int(r["overlap"]), int(r["wanted"]), same_region=bool(region) and r["region"] == region,
                    online_ok=bool(r["online_ok"]), availability=member["availability"])
        if fit is not None:
            out.append({"request": r["id"], "score": fit})
    out.sort(key=lambda m: (-m["score"], m["request"]))
    return out[:limit]


async def match_counts(store: Store, request_ids: list[str]) -> dict[str, int]:
    """How many of this node's (not away) members share a skill with each request."""
    if not request_ids:
        return {}
    rows = await store.all(
        "SELECT rs.request_id, count(DISTINCT ms.member_id) FROM request_skills rs"
        " JOIN member_skills ms ON ms.skill = rs.skill JOIN members m ON m.id = ms.member_id"
        f" WHERE m.availability != 'away' AND rs.request_id IN ({_marks(len(request_ids))}) GROUP BY rs.request_id",
        request_ids,
    )
    return {str(r[0]): int(r[1]) for r in rows}
