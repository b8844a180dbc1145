"""Invitations on the inviting hub, as plain functions: the one owner of the rules the
operator API (`POST /api/invitations`), the dashboard's Invitations page and the join desk
share. Who may invite (a hub server with a join address and the CA), making one (a row:
the hash of its secret, its expiry; the line is returned once and never kept), the list
of those made, revoking one (unused and unexpired only), and claiming one at the join
desk (unknown, wrong secret, used, revoked or expired: refused, saying which).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Final

import msgspec

from node.context import Context
from node.errors import Conflict, Forbidden, HitodeError, NotFound
from node.ops.invitation import Expired, Invitation, Redeem, encode, make, secret_hash
from node.ops.spec import CA_DIR, SPEC_FILE, load_spec, split_address
from node.store import Store, Tx

__all__ = ["DAY", "InvitationInput", "Revoked", "Made", "hub_ca", "invite", "listing", "find", "revoke", "claim", "release"]

DAY: Final = 86400


class InvitationInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    expires_in: Annotated[int, msgspec.Meta(ge=1, le=30 * DAY, description="seconds; default a day")] = DAY


class Revoked(HitodeError):
    code = "revoked"
    status = 410


class Made(msgspec.Struct, frozen=True, kw_only=True):
    """An invitation as its hub lists it: never its secret, only what became of it."""

    id: str
    created_at: float
    expires_at: float
    used_at: float | None
    used_by: str | None
    revoked_at: float | None

    def state(self, now: float) -> str:
        """used, revoked, expired or open (may still be redeemed, or revoked)."""
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "open"


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def hub_ca(data_dir: Path) -> str:
    """The CA certificate (PEM) of this space when it may invite: a hub server with a join
    address that keeps the federation's CA. Otherwise a Conflict saying what is missing."""
    if not (data_dir / SPEC_FILE).exists():
        raise Conflict("this space runs no hub server (no server.toml): see `hitode nats-config`")
    spec = load_spec(data_dir)
    if spec.topology != "hub" or not spec.join_address:
        raise Conflict("only a hub server with a join address admits spaces: "
                       "`hitode nats-config --dir ... --join-address HOST:PORT`")
    ca = data_dir / CA_DIR / "ca.crt"
    if not ca.exists() or not (data_dir / CA_DIR / "ca.key").exists():
        raise Conflict(f"this space keeps no CA ({data_dir / CA_DIR}): invite from the space that does")
    return ca.read_text()


async def invite(node: Context, inp: InvitationInput) -> tuple[Invitation, str]:
    """A new invitation, stored (hash of its secret, expiry), and its line to pass on."""
    ca = hub_ca(node.data_dir)
    spec = load_spec(node.data_dir)
    host, port = split_address(spec.join_address, 7480)
    inv = make(node.ident, join=f"https://{host}:{port}/join", ttl=inp.expires_in,
               hub=[f"{spec.address}:{spec.leaf_port}"], ca=ca)

    def unit(tx: Tx) -> None:
        tx.execute("INSERT INTO invitations (id, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
                   (inv.id, secret_hash(inv.secret), time.time(), inv.expires))

    await node.store.transact(unit)
    return inv, encode(inv, node.ident)


_COLUMNS: Final = "id, created_at, expires_at, used_at, used_by, revoked_at"


async def listing(store: Store, limit: int = 200) -> list[Made]:
    """The latest invitations made here, newest first."""
    rows = await store.all(f"SELECT {_COLUMNS} FROM invitations ORDER BY created_at DESC LIMIT ?", (limit,))
    return [Made(**dict(r)) for r in rows]


async def find(store: Store, id: str) -> Made | None:
    row = await store.one(f"SELECT {_COLUMNS} FROM invitations WHERE id = ?", (id,))
    return None if row is None else Made(**dict(row))


def _revoke(tx: Tx, id: str, now: float) -> None:
    row = tx.one("SELECT expires_at, used_at, used_by, revoked_at FROM invitations WHERE id = ?", (id,))
    if row is None:
        raise NotFound("no such invitation", field="id")
    if row["used_at"] is not None:
        raise Conflict(f"this invitation was already used (by {row['used_by']}): it cannot be revoked", field="id")
    if row["revoked_at"] is not None:
        raise Conflict("this invitation is revoked already", field="id")
    if now >= row["expires_at"]:
        raise Expired("this invitation has expired already: nobody can use it", field="id")
    tx.execute("UPDATE invitations SET revoked_at = ? WHERE id = ?", (now, id))


async def revoke(store: Store, id: str) -> None:
    """Revoke an unused, unexpired invitation: the join desk refuses it from then on."""
    await store.transact(lambda tx: _revoke(tx, id, time.time()))


def claim(tx: Tx, req: Redeem, now: float) -> None:
    """Mark the invitation used by `req.space`, in the join desk's transaction; refused
    (unknown, wrong secret, used, revoked, expired) with a message saying which."""
    row = tx.one("SELECT secret_hash, expires_at, used_at, used_by, revoked_at FROM invitations WHERE id = ?",
                 (req.id,))
    if row is None:
        raise NotFound("no such invitation here; check that the whole line was copied")
    if not secret_hash(req.secret) == bytes(row["secret_hash"]):
        raise Forbidden("the invitation's secret is wrong")
    if row["used_at"] is not None:
        raise Conflict(f"this invitation was already used (by {row['used_by']}, {_when(row['used_at'])}); "
                       "an invitation works once: ask for a new one")
    if row["revoked_at"] is not None:
        raise Revoked(f"this invitation was revoked by the hub's operator ({_when(row['revoked_at'])}): "
                      "ask for a new one")
    if now >= row["expires_at"]:
        raise Expired(f"this invitation expired at {_when(row['expires_at'])}: ask for a new one")
    tx.execute("UPDATE invitations SET used_at = ?, used_by = ? WHERE id = ?", (now, req.space, req.id))


def release(tx: Tx, id: str) -> None:
    """Undo a claim whose admission failed: the same line may be tried again."""
    tx.execute("UPDATE invitations SET used_at = NULL, used_by = NULL WHERE id = ?", (id,))
