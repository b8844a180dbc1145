"""Each owner's migrations are numbered apart: by name, so a name means one owner only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from node.errors import StoreError
from node.store import Migrations, Store
from node.store.migrations import KERNEL

TOY_1 = "CREATE TABLE toy_things (id TEXT PRIMARY KEY);"
TOY_2 = "ALTER TABLE toy_things ADD COLUMN colour TEXT;"


async def _tables(path: Path) -> set[str]:
    async with Store(path) as store:
        return {str(r[0]) for r in await store.all("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def _versions(store: Store) -> dict[str, int]:
    return {str(r[0]): int(r[1]) for r in await store.all("SELECT owner, version FROM schema_versions")}


async def _refused(path: Path, features: Sequence[Migrations], *words: str) -> None:
    with pytest.raises(StoreError) as caught:
        async with Store(path, features):
            pass
    for word in words:
        assert word in str(caught.value), caught.value


async def test_two_features_of_one_name_are_refused_before_any_script_runs(tmp_path: Path) -> None:
    """Two features both owning migrations as `toy` would share one version: the store will not open, and makes no table."""
    db = tmp_path / "kobe.db"
    await _refused(db, [("toy", (TOY_1,)), ("toy", ("CREATE TABLE toy_other (id TEXT);",))], "'toy'", "unique")
    assert not {"toy_things", "toy_other"} & await _tables(db)


async def test_a_feature_named_kernel_is_refused(tmp_path: Path) -> None:
    """A feature owning migrations as `kernel` would be numbered as the kernel's tables: refused, naming the owner."""
    await _refused(tmp_path / "kobe.db", [("kernel", (TOY_1,))], "'kernel'")


async def test_a_feature_added_later_gets_its_tables_at_the_next_open(tmp_path: Path) -> None:
    """A node first runs with no features; restarted with the toy feature, it creates the toy's table and records the toy at 1."""
    db = tmp_path / "kobe.db"
    async with Store(db) as store:
        assert await _versions(store) == {"kernel": len(KERNEL)}
    async with Store(db, [("toy", (TOY_1,))]) as store:
        await store.transact(lambda tx: tx.execute("INSERT INTO toy_things (id) VALUES ('t1')"))
        assert await store.scalar("SELECT id FROM toy_things") == "t1"
        assert await _versions(store) == {"kernel": len(KERNEL), "toy": 1}


async def test_a_database_from_a_newer_version_of_a_feature_is_refused(tmp_path: Path) -> None:
    """The toy's second script ran here; a build that knows only its first will not open the database."""
    db = tmp_path / "kobe.db"
    async with Store(db, [("toy", (TOY_1, TOY_2))]):
        pass
    await _refused(db, [("toy", (TOY_1,))], "newer", "toy schema 2", "knows 1")
