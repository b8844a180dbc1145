"""Japanese is searchable: two-character words, half-width kana, Latin words, ranked by bm25.

A feature declares its own index (table name, through its migrations) and indexes inside
its own write units; these scenarios do exactly that with a real SQLite file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.store import Store
from node.store.search import Index, match_expression, tokens

POSTS = Index("toy_search", columns=("title", "body"), weights=(3.0, 1.0))
DOCS = {
    "web": ("ウェブサイト制作を手伝ってくれる人", "商店街のお店のサイトを作りたい"),
    "books": ("会計を見てほしい", "個人事業の帳簿と確定申告の相談"),
    "video": ("映像編集できる方", "イベントの記録映像を 5 分にまとめたい"),
    "ui": ("アプリの UI デザイン", "Figma で画面を作れる人を探しています"),
    "english": ("Translation help", "Japanese to English translation of a web page"),
}


async def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "kobe.db", [("toy", (POSTS.migration(),))])
    await store.open()

    def put_all(tx: object) -> None:
        for key, (title, body) in DOCS.items():
            POSTS.put(tx, key, title, body)  # type: ignore[arg-type]

    await store.transact(put_all)
    return store


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("ウェブ", "web"),
        ("制作", "web"),
        ("会計", "books"),
        ("映像", "video"),
        ("UI", "ui"),
        ("ui", "ui"),
        ("ＵＩ", "ui"),
        ("ｳｪﾌﾞ", "web"),
        ("ウェブサイト制作", "web"),
        ("translation", "english"),
        ("会計 相談", "books"),
    ],
)
async def test_a_word_finds_the_document_that_holds_it(tmp_path: Path, query: str, found: str) -> None:
    """「ウェブサイト制作を手伝ってくれる人」 is found by ウェブ and 制作; 会計, 映像, UI, half-width ｳｪﾌﾞ too."""
    store = await _store(tmp_path)
    try:
        assert await POSTS.search(store, query) == [found]
    finally:
        await store.close()


@pytest.mark.parametrize("query", ["翻訳者", "accounting", "制作会社", "サイト作成", "", "!!"])
async def test_a_word_that_is_absent_finds_nothing(tmp_path: Path, query: str) -> None:
    store = await _store(tmp_path)
    try:
        assert await POSTS.search(store, query) == []
    finally:
        await store.close()


async def test_results_are_ranked_and_follow_edits_and_deletes_in_the_same_unit(tmp_path: Path) -> None:
    """A title hit outranks a body hit; a re-indexed document loses its old words; a deleted one is gone; a rolled-back unit leaves the index as it was."""
    store = await _store(tmp_path)
    try:
        assert await POSTS.search(store, "サイト") == ["web"]
        await store.transact(lambda tx: POSTS.put(tx, "books", "帳簿", "個人事業の帳簿と確定申告、ついでにウェブの相談も"))
        assert await POSTS.search(store, "ウェブ") == ["web", "books"]  # the title hit first
        assert await POSTS.search(store, "会計") == []  # its old words are gone
        await store.transact(lambda tx: POSTS.delete(tx, "web"))
        assert await POSTS.search(store, "制作") == []

        def failing(tx: object) -> None:
            POSTS.put(tx, "video", "全く別の題", "")  # type: ignore[arg-type]
            raise RuntimeError("refused")

        with pytest.raises(RuntimeError):
            await store.transact(failing)
        assert await POSTS.search(store, "映像") == ["video"]
    finally:
        await store.close()


def test_tokens_are_bigrams_for_cjk_runs_and_words_for_latin() -> None:
    assert tokens("ウェブサイト制作") == ["ウェ", "ェブ", "ブサ", "サイ", "イト", "ト制", "制作"]
    assert tokens("Web 制作、UI！") == ["web", "制作", "ui"]
    assert tokens("ｳｪﾌﾞ") == ["ウェ", "ェブ"]
    assert tokens("字") == ["字"]
    assert match_expression("字") == '"字"*'
    assert match_expression("web制作 会計") == '"web 制作" AND "会計"'
