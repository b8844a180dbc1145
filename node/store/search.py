"""Full-text search that finds Japanese: the tokens, and a feature's FTS5 index over them.

SQLite's trigram tokenizer finds nothing under three characters, and two-character words
(制作, 会計, 映像) are everyday Japanese (DESIGN §13). So text is normalised here, before
SQLite sees it: NFKC (half-width ｳｪﾌﾞ becomes ウェブ, full-width ＵＩ becomes UI) and lower
case; a run of CJK characters (kana, kanji) becomes its overlapping bigrams (a lone
character stays itself), a Latin word stays a word. The tokens are stored space-separated
in an FTS5 `unicode61` table, which then only has to split on the spaces. A query is
tokenised the same way and each of its words matched as a phrase, so ウェブ (ウェ ェブ)
finds ウェブサイト (ウェ ェブ ブサ サイ イト); results are ranked by bm25.

The kernel names no feature: a feature makes an `Index` with its own table name, puts
the index's `migration()` among its migrations, and calls `put`/`delete` inside its own
write units, so the index commits or rolls back with the rows it describes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Final

from node.store.store import Store
from node.store.tx import Tx

__all__ = ["Index", "tokens", "match_expression"]

# Hiragana, katakana (with the prolonged sound mark and iteration marks), CJK ideographs
# (with extension A and the compatibility block), and Hangul: scripts written without spaces.
_CJK: Final = "\u3005\u3006\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN: Final = re.compile(rf"([{_CJK}]+)|([^\W{_CJK}]+)")
_LONE_CJK: Final = re.compile(rf"[{_CJK}]")
_TABLE: Final = re.compile(r"[a-z][a-z0-9_]{0,47}")


def normalise(text: str) -> str:
    """NFKC, then lower case: width, compatibility forms and case no longer tell words apart."""
    return unicodedata.normalize("NFKC", text).lower()


def tokens(text: str) -> list[str]:
    """The index terms of `text`, in order: CJK runs as overlapping bigrams, other words whole."""
    out: list[str] = []
    for m in _TOKEN.finditer(normalise(text)):
        cjk, word = m.group(1), m.group(2)
        if cjk is None:
            out.append(word)
        elif len(cjk) == 1:
            out.append(cjk)
        else:
            out.extend(cjk[i : i + 2] for i in range(len(cjk) - 1))
    return out


def match_expression(query: str) -> str | None:
    """The FTS5 MATCH expression for what a person typed: every word of it, each a phrase.

    Words are the query's whitespace-separated parts; a word's tokens must stand together
    and in order. A lone CJK character matches as a prefix (it is indexed inside bigrams).
    None when the query holds nothing searchable (only punctuation or blanks).
    """
    phrases = []
    for part in normalise(query).split():
        terms = tokens(part)
        if not terms:
            continue
        if len(terms) == 1 and _LONE_CJK.fullmatch(terms[0]):
            phrases.append(f'"{terms[0]}"*')
        else:
            phrases.append('"' + " ".join(terms) + '"')
    return " AND ".join(phrases) if phrases else None


class Index:
    """A feature's full-text index: one FTS5 table of token text, keyed by the feature's ids.

    `columns` are the indexed fields (a title and a body, say) and `weights` their bm25
    weights. A side table maps the feature's string key to the FTS rowid, so replacing or
    deleting one document is a lookup, not a scan.
    """

    def __init__(self, table: str, columns: Sequence[str] = ("body",), weights: Sequence[float] | None = None) -> None:
        if not _TABLE.fullmatch(table) or not columns or not all(_TABLE.fullmatch(c) for c in columns):
            raise ValueError(f"index {table!r} needs a table name and columns of a-z, 0-9, _")
        if weights is not None and len(weights) != len(columns):
            raise ValueError("one weight per column")
        self.table = table
        self.columns = tuple(columns)
        self.weights = tuple(weights) if weights is not None else tuple(1.0 for _ in columns)
        self._keys = f"{table}_keys"

    def migration(self) -> str:
        """The script that creates the index; a feature lists it among its migrations."""
        cols = ", ".join(self.columns)
        return (
            f"CREATE VIRTUAL TABLE {self.table} USING fts5({cols}, tokenize='unicode61 remove_diacritics 0');\n"
            f"CREATE TABLE {self._keys} (key TEXT PRIMARY KEY, doc INTEGER NOT NULL UNIQUE);\n"
        )

    def put(self, tx: Tx, key: str, *texts: str) -> None:
        """Index (or re-index) the document `key`, one text per column, inside the caller's unit."""
        if len(texts) != len(self.columns):
            raise ValueError(f"{self.table} indexes {len(self.columns)} columns, got {len(texts)}")
        doc = tx.scalar(f"SELECT doc FROM {self._keys} WHERE key = ?", (key,))
        if doc is None:
            doc = int(tx.scalar(f"SELECT coalesce(max(doc), 0) + 1 FROM {self._keys}"))
            tx.execute(f"INSERT INTO {self._keys} (key, doc) VALUES (?, ?)", (key, doc))
        else:
            tx.execute(f"DELETE FROM {self.table} WHERE rowid = ?", (doc,))
        marks = ", ".join("?" for _ in self.columns)
        tx.execute(
            f"INSERT INTO {self.table} (rowid, {', '.join(self.columns)}) VALUES (?, {marks})",
            (doc, *(" ".join(tokens(t)) for t in texts)),
        )

    def delete(self, tx: Tx, key: str) -> None:
        doc = tx.scalar(f"SELECT doc FROM {self._keys} WHERE key = ?", (key,))
        if doc is not None:
            tx.execute(f"DELETE FROM {self.table} WHERE rowid = ?", (doc,))
            tx.execute(f"DELETE FROM {self._keys} WHERE key = ?", (key,))

    def ranked(self) -> str:
        """A subquery of (key, rank) for one MATCH parameter, best first by ascending rank.

        A feature joins it to its own rows to filter by other fields in the same query:
        ``SELECT … FROM my_rows JOIN (<ranked>) AS hit ON hit.key = my_rows.id … ORDER BY hit.rank``.
        """
        weights = ", ".join(repr(w) for w in self.weights)
        return (
            f"SELECT k.key AS key, bm25({self.table}, {weights}) AS rank FROM {self.table} "
            f"JOIN {self._keys} AS k ON k.doc = {self.table}.rowid WHERE {self.table} MATCH ?"
        )

    async def search(self, store: Store, query: str, limit: int = 50) -> list[str]:
        """The keys of the documents that match `query`, best first; none for an empty query."""
        expression = match_expression(query)
        if expression is None:
            return []
        rows = await store.all(f"{self.ranked()} ORDER BY rank LIMIT ?", (expression, limit))
        return [str(r[0]) for r in rows]

