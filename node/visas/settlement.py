"""The monthly settlement between partner spaces, derived from the visits on this node's books.

Per partner: visits and visa days in (members of the partner hosted here) and out (this
space's members hosted there). Days are distinct (member, day) pairs. The two sides hold
the same visit records (the host's, and the copy the home applied), so the host's "in"
equals the home's "out"; where they may not yet, the host knows which: the visits whose
newest version the home has not acknowledged, listed as the difference, with the flagged
ones. Also as CSV, and as an SVG chart of visits in and out per partner and month.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from html import escape
from typing import Any, Final

import msgspec

from node.store import Store
from schemas.visa import VisaHonoured

__all__ = ["month_of", "settle", "to_csv", "months_back", "chart", "honoured", "books_with", "compare"]

CSV_FIELDS: Final = ("month", "partner", "visits_in", "days_in", "visits_out", "days_out", "unconfirmed", "flagged")


def month_of(when: dt.datetime) -> str:
    return when.strftime("%Y-%m")


def months_back(month: str, n: int) -> list[str]:
    """`n` months ending with `month`, oldest first."""
    y, m = int(month[:4]), int(month[5:])
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


async def settle(store: Store, me: str, month: str) -> dict[str, Any]:
    rows = await store.all(
        "SELECT id, host, home, member, day, version, acked, flags FROM visits WHERE month = ? AND host != home"
        " AND (host = ? OR home = ?) ORDER BY checked_in_at", (month, me, me))
    partners: dict[str, dict[str, Any]] = {}
    days: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for r in rows:
        way = "in" if r["host"] == me else "out"
        partner = r["home"] if way == "in" else r["host"]
        p = partners.setdefault(partner, {"space": partner, "visits_in": 0, "days_in": 0, "visits_out": 0,
                                          "days_out": 0, "unconfirmed": [], "flagged": []})
        p[f"visits_{way}"] += 1
        days.setdefault((partner, way), set()).add((r["member"], r["day"]))
        if way == "in" and int(r["acked"]) < int(r["version"]):
            p["unconfirmed"].append(r["id"])  # the home's books may not show it (yet)
        if r["flags"] != "[]":
            p["flagged"].append(r["id"])
    for (partner, way), pairs in days.items():
        partners[partner][f"days_{way}"] = len(pairs)
    listed = sorted(partners.values(), key=lambda p: p["space"])
    return {
        "month": month, "space": me, "partners": listed,
        "total": {k: sum(p[k] for p in listed) for k in ("visits_in", "days_in", "visits_out", "days_out")},
        "agreed": all(not p["unconfirmed"] for p in listed),
    }


async def books_with(store: Store, me: str, partner: str, month: str) -> dict[str, int]:
    """Visit id -> version of the visits between `me` and `partner` in `month`, either way."""
    rows = await store.all(
        "SELECT id, version FROM visits WHERE month = ? AND ((host = ? AND home = ?) OR (host = ? AND home = ?))",
        (month, me, partner, partner, me))
    return {r["id"]: int(r["version"]) for r in rows}


def compare(mine: dict[str, int], theirs: dict[str, int] | None) -> dict[str, Any]:
    """Both books side by side: the visits only one side holds, and those at another version.
    `theirs` None: the partner could not be asked now."""
    if theirs is None:
        return {"reachable": False, "agreed": None, "only_here": [], "only_there": [], "other_version": []}
    out = {
        "reachable": True,
        "only_here": sorted(set(mine) - set(theirs)),
        "only_there": sorted(set(theirs) - set(mine)),
        "other_version": sorted(k for k in set(mine) & set(theirs) if mine[k] != theirs[k]),
    }
    out["agreed"] = not (out["only_here"] or out["only_there"] or out["other_version"])
    return out


def to_csv(result: dict[str, Any]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    w.writerow(CSV_FIELDS)
    for p in result["partners"]:
        w.writerow([result["month"], p["space"], p["visits_in"], p["days_in"], p["visits_out"], p["days_out"],
                    " ".join(p["unconfirmed"]), " ".join(p["flagged"])])
    return out.getvalue()


async def honoured(store: Store, months: list[str]) -> list[dict[str, Any]]:
    """Per space, the visits it says it hosted in each of `months` (its public counts)."""
    rows = await store.all(
        "SELECT author, record_id, body FROM records WHERE kind = 'visa_honoured'", ())
    dec = msgspec.msgpack.Decoder(VisaHonoured)
    spaces: dict[str, dict[str, int]] = {}
    for r in rows:
        h = dec.decode(r["body"])
        if h.month in months:
            spaces.setdefault(r["author"], {})[h.month] = h.visits
    return [{"space": s, "months": [{"month": m, "visits": got.get(m, 0)} for m in months],
             "total": sum(got.get(m, 0) for m in months)} for s, got in sorted(spaces.items())]


def chart(series: list[dict[str, Any]], months: list[str], *, title: str, label_in: str, label_out: str) -> str:
    """Grouped bars, one group per partner and month: visits in (dark) and out (light).

    `series`: [{"space": id, "counts": {month: (in, out)}}]. Plain SVG with presentation
    attributes (no inline style, which the page's CSP forbids)."""
    bar, gap, group_gap, height, top, left = 10, 2, 14, 120, 24, 36
    groups = [(s["space"], m, *s["counts"].get(m, (0, 0))) for s in series for m in months]
    peak = max([1, *(max(i, o) for _, _, i, o in groups)])
    # Wide enough for the title and legend even with one partner.
    width = max(480, left + max(1, len(groups)) * (2 * bar + gap + group_gap) + 10)
    full = height + top + 62
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {full}"'
             f' width="{width}" height="{full}"><title>{escape(title)}</title>',
             f'<text x="{left}" y="14" font-size="12">{escape(title)}</text>',
             f'<line x1="{left}" y1="{top + height}" x2="{width - 6}" y2="{top + height}" stroke="#888"/>',
             f'<text x="{left - 4}" y="{top + 8}" font-size="9" text-anchor="end">{peak}</text>',
             f'<text x="{left - 4}" y="{top + height}" font-size="9" text-anchor="end">0</text>']
    x = left + 4
    for space, month, n_in, n_out in groups:
        for n, fill, what in ((n_in, "#1f5f8b", label_in), (n_out, "#8fc1e3", label_out)):
            h = round(height * n / peak)
            parts.append(f'<rect x="{x}" y="{top + height - h}" width="{bar}" height="{h}" fill="{fill}">'
                         f'<title>{escape(space)} {month}: {escape(what)} {n}</title></rect>')
            x += bar + gap
        parts.append(f'<text x="{x - bar - gap}" y="{top + height + 12}" font-size="8" text-anchor="middle">'
                     f'{escape(space)}</text><text x="{x - bar - gap}" y="{top + height + 22}" font-size="8"'
                     f' text-anchor="middle">{month[2:]}</text>')
        x += group_gap
    parts.append(f'<rect x="{left}" y="{top + height + 30}" width="10" height="8" fill="#1f5f8b"/>'
                 f'<text x="{left + 14}" y="{top + height + 38}" font-size="10">{escape(label_in)}</text>'
                 f'<rect x="{left}" y="{top + height + 44}" width="10" height="8" fill="#8fc1e3"/>'
                 f'<text x="{left + 14}" y="{top + height + 52}" font-size="10">{escape(label_out)}</text></svg>')
    return "".join(parts)
