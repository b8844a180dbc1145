"""The rules of invitations on the hub (node/ops/inviting.py), over a real SQLite store:
only an unused, unexpired invitation can be revoked; the join desk's claim refuses a
revoked one saying so (before saying it expired), and a used one saying by whom. A
database of an ops feature from before revocation gains the column by its new migration.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from node.errors import Conflict, Forbidden, NotFound
from node.ops.invitation import MIGRATIONS, Expired, Redeem, secret_hash
from node.ops.inviting import Revoked, claim, find, listing, revoke
from node.store import Store, Tx

pytestmark = pytest.mark.asyncio


def _add(id: str, secret: str, expires_at: float) -> Callable[[Tx], None]:
    def unit(tx: Tx) -> None:
        tx.execute("INSERT INTO invitations (id, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
                   (id, secret_hash(secret), time.time(), expires_at))
    return unit


def _redeem(id: str, secret: str, space: str = "osaka") -> Redeem:
    return Redeem(id=id, secret=secret, space=space, csr="-")


async def test_only_an_unused_unexpired_invitation_is_revoked_and_the_desk_then_refuses_it(tmp_path: Path) -> None:
    async with Store(tmp_path / "kobe.db", [("ops", MIGRATIONS)]) as store:
        now = time.time()
        for id in ("open", "used", "late"):
            await store.transact(_add(id, f"s-{id}", now - 1 if id == "late" else now + 3600))
        await store.transact(lambda tx: claim(tx, _redeem("used", "s-used"), time.time()))

        with pytest.raises(Conflict, match="already used"):
            await revoke(store, "used")
        with pytest.raises(Expired):
            await revoke(store, "late")
        with pytest.raises(NotFound):
            await revoke(store, "nobody")
        await revoke(store, "open")
        with pytest.raises(Conflict, match="revoked already"):
            await revoke(store, "open")

        with pytest.raises(Forbidden):
            await store.transact(lambda tx: claim(tx, _redeem("open", "wrong"), time.time()))
        with pytest.raises(Revoked, match="revoked by the hub's operator"):
            await store.transact(lambda tx: claim(tx, _redeem("open", "s-open"), time.time()))
        # revoked and, later, expired too: still told it was revoked
        with pytest.raises(Revoked):
            await store.transact(lambda tx: claim(tx, _redeem("open", "s-open"), time.time() + 7200))
        with pytest.raises(Conflict, match=r"already used \(by osaka"):
            await store.transact(lambda tx: claim(tx, _redeem("used", "s-used", "nara"), time.time()))

        states = {m.id: m.state(time.time()) for m in await listing(store)}
        assert states == {"open": "revoked", "used": "used", "late": "expired"}
        used = await find(store, "used")
        assert used is not None and used.used_by == "osaka"


async def test_an_invitations_table_from_before_revocation_gains_the_column(tmp_path: Path) -> None:
    """Only the ops feature's first script ran here: the next start adds revoked_at, rows kept."""
    async with Store(tmp_path / "kobe.db", [("ops", MIGRATIONS[:1])]) as store:
        await store.transact(_add("old", "s-old", time.time() + 3600))
    async with Store(tmp_path / "kobe.db", [("ops", MIGRATIONS)]) as store:
        await revoke(store, "old")
        found = await find(store, "old")
        assert found is not None and found.revoked_at is not None
    with sqlite3.connect(tmp_path / "kobe.db") as db:
        assert "revoked_at" in {r[1] for r in db.execute("PRAGMA table_info(invitations)")}
