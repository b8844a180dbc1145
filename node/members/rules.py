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

from node.errors import Invalid, NotFound
from node.federation.identity import write_secret
from node.members import skills as skill_index
from node.store import Store, Tx
from schemas.member import MemberInput, MemberPatch

__all__ = ["federation_id", "load_secret", "secret_of", "MIGRATIONS", "create", "get", "patch", "listing", "SECRET_FILE"]

SECRET_FILE: Final = "member.secret"
CHANGED: Final = "members"  # the commit topic of a member added or edited

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
    # 2: what matching a request needs (DESIGN §6: it runs here, on this node only): which
    #    skills a member shares, availability and region, the synonym list, the skill index
    """
    ALTER TABLE members ADD COLUMN shared_skills TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE members ADD COLUMN availability TEXT NOT NULL DEFAULT 'available';
    ALTER TABLE members ADD COLUMN region TEXT NOT NULL DEFAULT '';
    CREATE TABLE member_skills (skill TEXT NOT NULL, member_id TEXT NOT NULL, PRIMARY KEY (skill, member_id)) WITHOUT ROWID;
    CREATE INDEX member_skills_member ON member_skills (member_id);
    """ + skill_index.seed_script(),
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
        "shared_skills": json.loads(row["shared_skills"]), "availability": row["availability"],
        "region": row["region"],
    }


def _check_shared(skills: list[str], shared: list[str]) -> None:
    """A member shares some of their own skills, never one they do not have."""
    unknown = [s for s in shared if s not in skills]
    if unknown:
        raise Invalid(f"shared skills must be among the member's skills: {', '.join(unknown)}", field="shared_skills")


async def create(store: Store, inp: MemberInput, member_id: str) -> dict[str, Any]:
    _check_shared(inp.skills, inp.shared_skills)

    def unit(tx: Tx) -> None:
        tx.execute(
            "INSERT INTO members (id, name, email, share_name, skills, created_at, shared_skills, availability, region)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (member_id, inp.name, inp.email, int(inp.share_name), json.dumps(inp.skills), time.time(),
             json.dumps(inp.shared_skills), inp.availability, inp.region),
        )
        skill_index.index_member(tx, member_id, inp.skills)
        tx.notify(CHANGED)

    await store.transact(unit)
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
        if "skills" in changes and "shared_skills" not in changes:
            merged["shared_skills"] = [s for s in merged["shared_skills"] if s in merged["skills"]]
        _check_shared(merged["skills"], merged["shared_skills"])
        tx.execute(
            "UPDATE members SET name = ?, email = ?, share_name = ?, skills = ?, shared_skills = ?,"
            " availability = ?, region = ? WHERE id = ?",
            (merged["name"], merged["email"], int(merged["share_name"]), json.dumps(merged["skills"]),
             json.dumps(merged["shared_skills"]), merged["availability"], merged["region"], member_id),
        )
        skill_index.index_member(tx, member_id, merged["skills"])
        tx.notify(CHANGED)
        return merged

    return await store.transact(unit)


async def listing(store: Store) -> list[dict[str, Any]]:
    return [_view(r) for r in await store.all("SELECT * FROM members ORDER BY created_at")]
