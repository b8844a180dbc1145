"""Local members of this space. Their data never leaves the node (DESIGN §6).

What the federation sees of a member is a pseudonymous id, an HMAC of the local id under
a secret of this node, and the display name only where the member opted in.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any, Final

import msgspec

from node.errors import NotFound
from node.federation.identity import write_secret
from node.store import Store, Tx
from schemas.member import MemberInput, MemberPatch

__all__ = ["federation_id", "load_secret", "secret_of", "MIGRATIONS", "create", "get", "patch", "listing", "SECRET_FILE"]

SECRET_FILE: Final = "member.secret"

MIGRATIONS: Final = (
    # 1 (IF NOT EXISTS: databases of the development series made it already)
    """
    CREATE TABLE IF NOT EXISTS members (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        share_name INTEGER NOT NULL,
        skills TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
)


def load_secret(data_dir: Path) -> bytes:
    """The node's member secret, created on first use (older data dirs have none yet)."""
    path = data_dir / SECRET_FILE
    if not path.exists():
        write_secret(path, secrets.token_bytes(32))
    return path.read_bytes()


@functools.cache
def secret_of(data_dir: Path) -> bytes:
    """The member secret of the node at `data_dir`, read once."""
    return load_secret(data_dir)


def federation_id(secret: bytes, member_id: str) -> str:
    return "m-" + hmac.new(secret, member_id.encode(), hashlib.sha256).hexdigest()[:24]


def _view(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "email": row["email"],
        "share_name": bool(row["share_name"]), "skills": json.loads(row["skills"]),
    }


async def create(store: Store, inp: MemberInput, member_id: str) -> dict[str, Any]:
    await store.transact(lambda tx: tx.execute(
        "INSERT INTO members (id, name, email, share_name, skills, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (member_id, inp.name, inp.email, int(inp.share_name), json.dumps(inp.skills), time.time()),
    ).rowcount)
    return await get(store, member_id)


async def get(store: Store, member_id: str, *, field: str = "id") -> dict[str, Any]:
    row = await store.one("SELECT * FROM members WHERE id = ?", (member_id,))
    if row is None:
        raise NotFound(f"no member {member_id!r} at this space", field=field)
    return _view(row)


async def patch(store: Store, member_id: str, p: MemberPatch) -> dict[str, Any]:
    """Apply the fields `p` sets onto the member as it is now.

    The read, the merge and the write are one unit in the writer's thread: merged onto a
    read taken before the transaction, a concurrent patch of another field would be
    written back to its old value and lost.
    """
    changes = {k: v for k, v in msgspec.structs.asdict(p).items() if v is not msgspec.UNSET}

    def unit(tx: Tx) -> dict[str, Any]:
        row = tx.one("SELECT * FROM members WHERE id = ?", (member_id,))
        if row is None:
            raise NotFound(f"no member {member_id!r} at this space", field="id")
        merged = {**_view(row), **changes}
        tx.execute(
            "UPDATE members SET name = ?, email = ?, share_name = ?, skills = ? WHERE id = ?",
            (merged["name"], merged["email"], int(merged["share_name"]), json.dumps(merged["skills"]), member_id),
        )
        return merged

    return await store.transact(unit)


async def listing(store: Store) -> list[dict[str, Any]]:
    return [_view(r) for r in await store.all("SELECT * FROM members ORDER BY created_at")]
