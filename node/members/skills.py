"""Skills as tags that match across spellings: normalised, folded through synonyms, indexed.

A tag's key is its NFKC, lower-case form without spaces or joiners, so "Web 制作",
"web制作" and half-width "ｳｪﾌﾞ制作" meet. Keys are folded through the operator's synonym
list (seeded in Japanese and English: ウェブ制作 = Web制作 = web development) to one
canonical key. `member_skills` indexes each member by canonical skill, written in the
same unit as the member, so finding the members with a skill is an index lookup.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from node.store import Store, Tx

__all__ = ["key", "Synonyms", "SEED", "seed_script", "load", "load_in", "replace", "index_member", "reindex_members"]

_JOINERS: Final = re.compile(r"[\s\-_・･/·.]+")

# Seed groups: the canonical name first. Operators edit the list (PUT /api/skills/synonyms).
SEED: Final[tuple[tuple[str, ...], ...]] = (
    ("web development", "ウェブ制作", "web制作", "ウェブ開発", "web開発", "ホームページ制作", "サイト制作",
     "ウェブサイト制作", "website", "web design", "ウェブデザイン", "webデザイン", "web"),
    ("design", "デザイン", "グラフィックデザイン", "graphic design", "デザイナー"),
    ("ui design", "ui", "ux", "uiデザイン", "uxデザイン", "ui/ux"),
    ("writing", "ライティング", "執筆", "文章作成", "copywriting", "コピーライティング", "編集", "editing"),
    ("translation", "翻訳", "通訳", "interpreting", "英訳", "和訳"),
    ("accounting", "会計", "経理", "簿記", "bookkeeping", "税務", "tax", "確定申告"),
    ("events", "イベント", "イベント運営", "イベント企画", "event planning", "企画運営", "event"),
    ("video", "映像", "映像制作", "映像編集", "動画", "動画制作", "動画編集", "video editing", "videography"),
    ("photography", "写真", "撮影", "photo", "カメラマン"),
    ("programming", "プログラミング", "software development", "ソフトウェア開発", "エンジニアリング", "coding"),
    ("marketing", "マーケティング", "sns運用", "social media", "広報", "pr"),
    ("legal", "法務", "契約書", "contracts"),
)


def key(tag: str) -> str:
    """The spelling-free form of a tag: NFKC, lower case, no spaces or joiners."""
    return _JOINERS.sub("", unicodedata.normalize("NFKC", tag).lower())


class Synonyms:
    """The folding table: a tag's key to its canonical key (itself when it has no group)."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = dict(table)

    def fold(self, tag: str) -> str:
        k = key(tag)
        return self._table.get(k, k)

    def fold_all(self, tags: Iterable[str]) -> list[str]:
        return sorted({f for f in (self.fold(t) for t in tags) if f})

    def groups(self) -> list[list[str]]:
        out: dict[str, list[str]] = {}
        for term, canonical in sorted(self._table.items()):
            out.setdefault(canonical, [canonical])
            if term != canonical:
                out[canonical].append(term)
        return [out[c] for c in sorted(out)]


def _rows(groups: Iterable[Sequence[str]]) -> dict[str, str]:
    table: dict[str, str] = {}
    for group in groups:
        keys = [k for k in (key(t) for t in group) if k]
        for k in keys:
            table.setdefault(k, keys[0])  # a term in two groups stays with the first
    return table


def seed_script() -> str:
    """The migration that makes the tables and seeds the list (computed once, written once)."""
    values = ",\n".join(f"('{t}', '{c}')" for t, c in sorted(_rows(SEED).items()))
    return (
        "CREATE TABLE skill_synonyms (term TEXT PRIMARY KEY, canonical TEXT NOT NULL) WITHOUT ROWID;\n"
        f"INSERT INTO skill_synonyms (term, canonical) VALUES\n{values};\n"
    )


async def load(store: Store) -> Synonyms:
    return Synonyms({str(r[0]): str(r[1]) for r in await store.all("SELECT term, canonical FROM skill_synonyms")})


def load_in(tx: Tx) -> Synonyms:
    return Synonyms({str(r[0]): str(r[1]) for r in tx.all("SELECT term, canonical FROM skill_synonyms")})


def replace(tx: Tx, groups: Iterable[Sequence[str]]) -> Synonyms:
    """The operator's new list, whole; every member's skills are folded again by it."""
    table = _rows(groups)
    tx.execute("DELETE FROM skill_synonyms")
    tx.executemany("INSERT INTO skill_synonyms (term, canonical) VALUES (?, ?)", table.items())
    synonyms = Synonyms(table)
    reindex_members(tx, synonyms)
    return synonyms


def index_member(tx: Tx, member_id: str, skills: Iterable[str], synonyms: Synonyms | None = None) -> list[str]:
    """Index one member by canonical skill, inside the unit that writes the member."""
    folded = (synonyms or load_in(tx)).fold_all(skills)
    tx.execute("DELETE FROM member_skills WHERE member_id = ?", (member_id,))
    tx.executemany("INSERT INTO member_skills (skill, member_id) VALUES (?, ?)", ((s, member_id) for s in folded))
    return folded


def reindex_members(tx: Tx, synonyms: Synonyms) -> None:
    for row in tx.all("SELECT id, skills FROM members"):
        index_member(tx, str(row[0]), json.loads(row[1]), synonyms)
